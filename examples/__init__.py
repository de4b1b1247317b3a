"""Small runnable packages, one per use of the toolkit (see each folder's README.md)."""
