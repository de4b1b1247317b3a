// Poller - Checks status and reconnects workflow
const { DynamoDBClient, GetItemCommand, UpdateItemCommand } = require('@aws-sdk/client-dynamodb');
const { SFNClient, SendTaskSuccessCommand, SendTaskFailureCommand } = require('@aws-sdk/client-sfn');
const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');

const config = {
  endpoint: process.env.LOCALSTACK_HOSTNAME 
    ? `http://${process.env.LOCALSTACK_HOSTNAME}:4566`
    : 'http://localhost:4566',
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' }
};

const dynamoClient = new DynamoDBClient(config);
const sfnClient = new SFNClient(config);
const lambdaClient = new LambdaClient(config);

const TOKENS_TABLE = 'poc-task-tokens';
const SIMULATED_API_LAMBDA = 'poc-simulated-api';

exports.handler = async (event) => {
  console.log('üîç Poller Event:', JSON.stringify(event, null, 2));
  
  const { jobId } = event;
  
  try {
    // 1. Get Task Token
    const tokenResponse = await dynamoClient.send(new GetItemCommand({
      TableName: TOKENS_TABLE,
      Key: { jobId: { S: jobId } }
    }));
    
    if (!tokenResponse.Item) {
      console.error(`‚ùå No token found for job ${jobId}`);
      return { error: 'Token not found' };
    }
    
    const taskToken = tokenResponse.Item.taskToken.S;
    const currentAttempts = parseInt(tokenResponse.Item.attemptCount.N);
    const maxAttempts = parseInt(tokenResponse.Item.maxAttempts.N);
    const currentStatus = tokenResponse.Item.status.S;
    
    if (currentStatus !== 'POLLING') {
      console.log(`‚ö†Ô∏è Job ${jobId} already processed: ${currentStatus}`);
      return { status: currentStatus };
    }
    
    // 2. Increment attempt count
    const newAttemptCount = currentAttempts + 1;
    await dynamoClient.send(new UpdateItemCommand({
      TableName: TOKENS_TABLE,
      Key: { jobId: { S: jobId } },
      UpdateExpression: 'SET attemptCount = :count',
      ExpressionAttributeValues: { ':count': { N: newAttemptCount.toString() } }
    }));
    
    // 3. Check max attempts
    if (newAttemptCount > maxAttempts) {
      console.log(`‚ùå Max attempts exceeded for job ${jobId}`);
      await updateStatus(jobId, 'MAX_ATTEMPTS');
      await sfnClient.send(new SendTaskFailureCommand({
        taskToken,
        error: 'MaxAttemptsExceeded',
        cause: `Exceeded ${maxAttempts} polling attempts`
      }));
      return { status: 'MAX_ATTEMPTS' };
    }
    
    // 4. Check job status
    console.log(`üìä Checking status for job ${jobId}, attempt ${newAttemptCount}/${maxAttempts}`);
    
    const statusResponse = await lambdaClient.send(new InvokeCommand({
      FunctionName: SIMULATED_API_LAMBDA,
      Payload: JSON.stringify({
        action: 'CHECK_STATUS',
        jobId: jobId
      })
    }));
    
    const jobStatus = JSON.parse(Buffer.from(statusResponse.Payload).toString());
    console.log('Job status:', jobStatus);
    
    // 5. Act on status
    if (jobStatus.status === 'COMPLETED') {
      console.log(`üéâ Job ${jobId} COMPLETED! Reconnecting workflow...`);
      
      await updateStatus(jobId, 'COMPLETED');
      
      // MAGIC HAPPENS HERE: SendTaskSuccess reconnects the workflow!
      await sfnClient.send(new SendTaskSuccessCommand({
        taskToken: taskToken,
        output: JSON.stringify({
          jobId,
          status: 'COMPLETED',
          completedAt: new Date().toISOString(),
          attempts: newAttemptCount,
          result: jobStatus
        })
      }));
      
      console.log(`‚úÖ SendTaskSuccess sent! Workflow should continue now.`);
      return { status: 'COMPLETED', reconnected: true };
      
    } else if (jobStatus.status === 'FAILED') {
      console.log(`‚ùå Job ${jobId} FAILED`);
      await updateStatus(jobId, 'FAILED');
      await sfnClient.send(new SendTaskFailureCommand({
        taskToken,
        error: 'JobFailed',
        cause: 'External job failed'
      }));
      return { status: 'FAILED' };
      
    } else {
      console.log(`‚è≥ Job ${jobId} still IN_PROGRESS (${newAttemptCount}/${maxAttempts})`);
      return { 
        status: 'IN_PROGRESS', 
        attempt: newAttemptCount,
        maxAttempts 
      };
    }
    
  } catch (error) {
    console.error('‚ùå Poller error:', error);
    throw error;
  }
};

async function updateStatus(jobId, status) {
  await dynamoClient.send(new UpdateItemCommand({
    TableName: TOKENS_TABLE,
    Key: { jobId: { S: jobId } },
    UpdateExpression: 'SET #s = :status, completedAt = :time',
    ExpressionAttributeNames: { '#s': 'status' },
    ExpressionAttributeValues: {
      ':status': { S: status },
      ':time': { S: new Date().toISOString() }
    }
  }));
}
