// Create Job and Save Task Token - Runs in LocalStack
const { DynamoDBClient, PutItemCommand } = require('@aws-sdk/client-dynamodb');
const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');

const config = {
  endpoint: process.env.LOCALSTACK_HOSTNAME 
    ? `http://${process.env.LOCALSTACK_HOSTNAME}:4566`
    : 'http://localhost:4566',
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' }
};

const dynamoClient = new DynamoDBClient(config);
const lambdaClient = new LambdaClient(config);

const TOKENS_TABLE = 'poc-task-tokens';
const SIMULATED_API_LAMBDA = 'poc-simulated-api';

exports.handler = async (event) => {
  console.log('CreateJob Event:', JSON.stringify(event, null, 2));
  
  const { record, taskToken, executionId, pollingConfig } = event;
  
  // 1. Create job in simulated API
  console.log('üì§ Creating job in external API...');
  
  const apiResponse = await lambdaClient.send(new InvokeCommand({
    FunctionName: SIMULATED_API_LAMBDA,
    Payload: JSON.stringify({
      action: 'CREATE_JOB',
      payload: { recordId: record.id, data: record.data }
    })
  }));
  
  const jobData = JSON.parse(Buffer.from(apiResponse.Payload).toString());
  const jobId = jobData.jobId;
  
  console.log(`‚úÖ Job created: ${jobId}`);
  
  // 2. Save Task Token to DynamoDB
  const expiresAt = new Date(Date.now() + (pollingConfig.timeoutMinutes * 60 * 1000)).toISOString();
  
  await dynamoClient.send(new PutItemCommand({
    TableName: TOKENS_TABLE,
    Item: {
      jobId: { S: jobId },
      taskToken: { S: taskToken },
      executionId: { S: executionId },
      createdAt: { S: new Date().toISOString() },
      expiresAt: { S: expiresAt },
      attemptCount: { N: '0' },
      maxAttempts: { N: pollingConfig.maxAttempts.toString() },
      status: { S: 'POLLING' }
    }
  }));
  
  console.log(`üíæ Task token saved for job ${jobId}`);
  console.log(`‚è≥ Workflow now WAITING for callback...`);
  console.log(`üîÑ Run manual polling: ./scripts/poll-manually.sh ${jobId}`);
  
  // Return job info (but workflow waits for SendTaskSuccess)
  return { jobId, status: 'POLLING' };
};
