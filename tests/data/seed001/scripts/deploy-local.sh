#!/bin/bash
set -e

ENDPOINT="http://localhost:4566"
REGION="us-east-1"

echo "üöÄ Deploying to LocalStack"
echo "==========================="

# Check LocalStack is running
if ! curl -s $ENDPOINT/health | grep -q "running"; then
  echo "‚ùå LocalStack is not running. Start it with: docker-compose up -d"
  exit 1
fi

echo "‚úÖ LocalStack is running"

# Configure AWS CLI for LocalStack
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION=$REGION

alias awslocal="aws --endpoint-url=$ENDPOINT"

echo ""
echo "üì¶ Creating DynamoDB tables..."

# Create Task Tokens table
aws --endpoint-url=$ENDPOINT dynamodb create-table \
  --table-name poc-task-tokens \
  --attribute-definitions AttributeName=jobId,AttributeType=S \
  --key-schema AttributeName=jobId,KeyType=HASH \
  --billing-mode PAY_PER_REQUEST \
  --no-cli-pager 2>/dev/null || echo "  Table poc-task-tokens already exists"

# Create Jobs table
aws --endpoint-url=$ENDPOINT dynamodb create-table \
  --table-name poc-jobs \
  --attribute-definitions AttributeName=jobId,AttributeType=S \
  --key-schema AttributeName=jobId,KeyType=HASH \
  --billing-mode PAY_PER_REQUEST \
  --no-cli-pager 2>/dev/null || echo "  Table poc-jobs already exists"

echo "‚úÖ DynamoDB tables ready"

echo ""
echo "üì¶ Packaging Lambda functions..."

for lambda_dir in lambdas/*/; do
  lambda_name=$(basename "$lambda_dir")
  echo "  - Packaging $lambda_name..."
  
  cd "$lambda_dir"
  npm install --production --silent 2>/dev/null || npm install --production
  zip -r "${lambda_name}.zip" . -q
  cd ../..
done

echo "‚úÖ Lambda packages created"

echo ""
echo "üîß Deploying Lambda functions..."

# Deploy Simulated API
aws --endpoint-url=$ENDPOINT lambda create-function \
  --function-name poc-simulated-api \
  --runtime nodejs18.x \
  --handler index.handler \
  --zip-file fileb://lambdas/simulated-api/simulated-api.zip \
  --role arn:aws:iam::000000000000:role/lambda-role \
  --timeout 30 \
  --memory-size 256 \
  --no-cli-pager 2>/dev/null || \
aws --endpoint-url=$ENDPOINT lambda update-function-code \
  --function-name poc-simulated-api \
  --zip-file fileb://lambdas/simulated-api/simulated-api.zip \
  --no-cli-pager

echo "  ‚úÖ poc-simulated-api deployed"

# Deploy Create Job
aws --endpoint-url=$ENDPOINT lambda create-function \
  --function-name poc-create-job \
  --runtime nodejs18.x \
  --handler index.handler \
  --zip-file fileb://lambdas/create-job/create-job.zip \
  --role arn:aws:iam::000000000000:role/lambda-role \
  --timeout 60 \
  --memory-size 256 \
  --no-cli-pager 2>/dev/null || \
aws --endpoint-url=$ENDPOINT lambda update-function-code \
  --function-name poc-create-job \
  --zip-file fileb://lambdas/create-job/create-job.zip \
  --no-cli-pager

echo "  ‚úÖ poc-create-job deployed"

# Deploy Poller
aws --endpoint-url=$ENDPOINT lambda create-function \
  --function-name poc-poller \
  --runtime nodejs18.x \
  --handler index.handler \
  --zip-file fileb://lambdas/poller/poller.zip \
  --role arn:aws:iam::000000000000:role/lambda-role \
  --timeout 60 \
  --memory-size 256 \
  --no-cli-pager 2>/dev/null || \
aws --endpoint-url=$ENDPOINT lambda update-function-code \
  --function-name poc-poller \
  --zip-file fileb://lambdas/poller/poller.zip \
  --no-cli-pager

echo "  ‚úÖ poc-poller deployed"

echo ""
echo "üîß Creating Step Functions state machine..."

# Create IAM role (LocalStack doesn't enforce this but it's needed)
aws --endpoint-url=$ENDPOINT iam create-role \
  --role-name StepFunctionsRole \
  --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"states.amazonaws.com"},"Action":"sts:AssumeRole"}]}' \
  --no-cli-pager 2>/dev/null || true

# Create State Machine
STATE_MACHINE_DEF=$(cat state-machine/definition.json)

aws --endpoint-url=$ENDPOINT stepfunctions create-state-machine \
  --name poc-callback-workflow \
  --definition "$STATE_MACHINE_DEF" \
  --role-arn arn:aws:iam::000000000000:role/StepFunctionsRole \
  --no-cli-pager 2>/dev/null || \
aws --endpoint-url=$ENDPOINT stepfunctions update-state-machine \
  --state-machine-arn arn:aws:states:$REGION:000000000000:stateMachine:poc-callback-workflow \
  --definition "$STATE_MACHINE_DEF" \
  --no-cli-pager

echo "  ‚úÖ poc-callback-workflow state machine deployed"

echo ""
echo "üéâ Deployment Complete!"
echo "======================="
echo ""
echo "Resources created in LocalStack:"
echo "  - DynamoDB: poc-task-tokens, poc-jobs"
echo "  - Lambda: poc-simulated-api, poc-create-job, poc-poller"
echo "  - Step Functions: poc-callback-workflow"
echo ""
echo "To test: ./scripts/test-local.sh"
