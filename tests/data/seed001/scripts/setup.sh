#!/bin/bash
set -e

echo "üîß Setting up Local PoC Environment"
echo "===================================="

# Create directories
mkdir -p lambdas/{create-job,poller,simulated-api}
mkdir -p state-machine
mkdir -p localstack
mkdir -p scripts
mkdir -p volume

# Create package.json for each Lambda
for lambda in create-job poller simulated-api; do
  cat > lambdas/$lambda/package.json << 'EOF'
{
  "name": "lambda-function",
  "version": "1.0.0",
  "dependencies": {
    "@aws-sdk/client-dynamodb": "^3.0.0",
    "@aws-sdk/client-sfn": "^3.0.0",
    "@aws-sdk/client-lambda": "^3.0.0"
  }
}
EOF
done

echo "‚úÖ Directory structure created"
echo ""
echo "Next steps:"
echo "1. Copy Lambda code into lambdas/*/index.js"
echo "2. Copy state-machine/definition.json"
echo "3. Copy docker-compose.yml"
echo "4. Run: docker-compose up -d"
echo "5. Run: ./scripts/deploy-local.sh"
