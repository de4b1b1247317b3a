// Simulated External API - Runs in LocalStack
const { DynamoDBClient, PutItemCommand, GetItemCommand, UpdateItemCommand } = require('@aws-sdk/client-dynamodb');

const config = {
  endpoint: process.env.LOCALSTACK_HOSTNAME 
    ? `http://${process.env.LOCALSTACK_HOSTNAME}:4566`
    : 'http://localhost:4566',
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' }
};

const dynamoClient = new DynamoDBClient(config);
const TABLE_NAME = 'poc-jobs';

exports.handler = async (event) => {
  console.log('Simulated API Event:', JSON.stringify(event, null, 2));
  
  const { action, jobId, payload } = event;
  
  try {
    if (action === 'CREATE_JOB') {
      const newJobId = `job-${Date.now()}-${Math.random().toString(36).substr(2, 6)}`;
      const completionPolls = Math.floor(Math.random() * 2) + 2; // 2 or 3 polls
      
      await dynamoClient.send(new PutItemCommand({
        TableName: TABLE_NAME,
        Item: {
          jobId: { S: newJobId },
          status: { S: 'IN_PROGRESS' },
          pollCount: { N: '0' },
          completionPolls: { N: completionPolls.toString() },
          payload: { S: JSON.stringify(payload || {}) },
          createdAt: { S: new Date().toISOString() }
        }
      }));
      
      console.log(`‚úÖ Created job ${newJobId}, completes after ${completionPolls} polls`);
      
      return {
        jobId: newJobId,
        status: 'IN_PROGRESS',
        completionPolls
      };
    }
    
    if (action === 'CHECK_STATUS') {
      const response = await dynamoClient.send(new GetItemCommand({
        TableName: TABLE_NAME,
        Key: { jobId: { S: jobId } }
      }));
      
      if (!response.Item) {
        return { error: 'Job not found' };
      }
      
      const pollCount = parseInt(response.Item.pollCount.N);
      const completionPolls = parseInt(response.Item.completionPolls.N);
      const newPollCount = pollCount + 1;
      
      await dynamoClient.send(new UpdateItemCommand({
        TableName: TABLE_NAME,
        Key: { jobId: { S: jobId } },
        UpdateExpression: 'SET pollCount = :count',
        ExpressionAttributeValues: { ':count': { N: newPollCount.toString() } }
      }));
      
      let status = 'IN_PROGRESS';
      if (newPollCount >= completionPolls) {
        status = 'COMPLETED';
        await dynamoClient.send(new UpdateItemCommand({
          TableName: TABLE_NAME,
          Key: { jobId: { S: jobId } },
          UpdateExpression: 'SET #s = :status, completedAt = :time',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':status': { S: 'COMPLETED' },
            ':time': { S: new Date().toISOString() }
          }
        }));
      }
      
      console.log(`üìä Job ${jobId}: poll ${newPollCount}/${completionPolls} = ${status}`);
      
      return {
        jobId,
        status,
        pollCount: newPollCount,
        completionPolls
      };
    }
    
    return { error: 'Unknown action' };
    
  } catch (error) {
    console.error('‚ùå Error:', error);
    return { error: error.message };
  }
};
