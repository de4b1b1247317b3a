#!/bin/bash
# This runs automatically when LocalStack starts (if mounted)
echo "LocalStack initialized and ready!"
