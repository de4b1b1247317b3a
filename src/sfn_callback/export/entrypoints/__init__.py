"""Export entry points: the SQS consumer Lambda and its message schema."""
