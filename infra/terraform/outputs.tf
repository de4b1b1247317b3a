# Seed 000's outputs (the callback PoC), then every resource by its stack name.

output "state_machine_arn" {
  description = "Step Functions state machine ARN (callback workflow)"
  value       = aws_sfn_state_machine.this["poc-callback-workflow"].arn
}

output "state_machine_name" {
  description = "Step Functions state machine name (callback workflow)"
  value       = aws_sfn_state_machine.this["poc-callback-workflow"].name
}

output "tokens_table_name" {
  description = "DynamoDB task tokens table name"
  value       = aws_dynamodb_table.this["poc-task-tokens"].name
}

output "jobs_table_name" {
  description = "DynamoDB jobs table name"
  value       = aws_dynamodb_table.this["poc-jobs"].name
}

output "scheduler_group_name" {
  description = "EventBridge Scheduler group of the per-job polling schedules"
  value       = aws_scheduler_schedule_group.this["poc-polling"].name
}

output "create_job_lambda" {
  description = "Create-job Lambda function name"
  value       = aws_lambda_function.this["poc-create-job"].function_name
}

output "poller_lambda" {
  description = "Poller Lambda function name"
  value       = aws_lambda_function.this["poc-poller"].function_name
}

output "push_url" {
  description = "The push endpoint's Function URL (job APIs POST signed job ends here)"
  value       = aws_lambda_function_url.this["poc-job-push"].function_url
}

output "simulated_api_lambda" {
  description = "Simulated API Lambda function name"
  value       = aws_lambda_function.this["poc-simulated-api"].function_name
}

output "state_machine_arns" {
  description = "Every state machine ARN, by stack name"
  value       = { for k, sm in aws_sfn_state_machine.this : k => sm.arn }
}

output "function_names" {
  description = "Every Lambda function name, by stack name"
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "table_names" {
  description = "Every DynamoDB table name, by stack name"
  value       = { for k, t in aws_dynamodb_table.this : k => t.name }
}

output "queue_urls" {
  description = "Every SQS queue URL, by stack name"
  value       = merge({ for k, q in aws_sqs_queue.plain : k => q.url }, { for k, q in aws_sqs_queue.redriven : k => q.url })
}

output "schedule_group_names" {
  description = "Every Scheduler group name, by stack name (delete their schedules before destroying)"
  value       = { for k, g in aws_scheduler_schedule_group.this : k => g.name }
}
