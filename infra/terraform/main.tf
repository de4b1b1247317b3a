# Every resource comes from build/stack.json, which 'sfn-callback package' writes from the same stack spec
# that 'sfn-callback deploy' applies. Names and ARNs in it carry three tokens, replaced here; resources refer
# to each other by the stack's names (the map keys).

data "aws_caller_identity" "current" {}

locals {
  build_dir  = coalesce(var.build_dir, "${path.module}/../../build")
  source_dir = coalesce(var.source_dir, "${path.module}/../../src")
  lambda_zip = "${local.build_dir}/lambda.zip"

  stack = jsondecode(
    replace(
      replace(
        replace(file("${local.build_dir}/stack.json"), "__NAME_PREFIX__", var.name_prefix),
        "__ACCOUNT_ID__", data.aws_caller_identity.current.account_id
      ),
      "__REGION__", var.region
    )
  )

  # The stack's own tags (the deployer compares them) over any extra ones given in var.tags.
  tags = merge(var.tags, local.stack.tags)

  redriven_queues = { for k, q in local.stack.queues : k => q if q.dlq != null }
  plain_queues    = { for k, q in local.stack.queues : k => q if q.dlq == null }
}

# ------------------------------------------------------------------------------------- log groups
resource "aws_cloudwatch_log_group" "this" {
  for_each          = local.stack.log_groups
  name              = each.value.name
  retention_in_days = coalesce(var.log_retention_days, each.value.retention_days, 0)
  tags              = local.tags
}

# ----------------------------------------------------------------------------------------- tables
resource "aws_dynamodb_table" "this" {
  for_each     = local.stack.tables
  name         = each.value.name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = each.value.hash_key
  range_key    = each.value.range_key

  dynamic "attribute" {
    for_each = each.value.attributes
    content {
      name = attribute.value.name
      type = attribute.value.type
    }
  }

  dynamic "global_secondary_index" {
    for_each = each.value.gsis
    content {
      name            = global_secondary_index.value.name
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = "ALL"
    }
  }

  dynamic "ttl" {
    for_each = each.value.ttl_attribute == null ? [] : [each.value.ttl_attribute]
    content {
      attribute_name = ttl.value
      enabled        = true
    }
  }

  tags = local.tags
}

# ---------------------------------------------------------------------------------------- buckets
resource "aws_s3_bucket" "this" {
  for_each      = local.stack.buckets
  bucket        = each.value.name
  force_destroy = true # destroy empties it, as 'sfn-callback destroy' does
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = { for k, b in local.stack.buckets : k => b if b.public_access_blocked }
  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ----------------------------------------------------------------------------------------- queues
# Dead-letter queues (and queues without one) first, then the queues that redrive to them.
resource "aws_sqs_queue" "plain" {
  for_each                   = local.plain_queues
  name                       = each.value.name
  visibility_timeout_seconds = each.value.visibility_timeout
  tags                       = local.tags
}

resource "aws_sqs_queue" "redriven" {
  for_each                   = local.redriven_queues
  name                       = each.value.name
  visibility_timeout_seconds = each.value.visibility_timeout
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.plain[each.value.dlq].arn
    maxReceiveCount     = each.value.max_receive_count
  })
  tags = local.tags
}

locals {
  queue_arns = merge(
    { for k, q in aws_sqs_queue.plain : k => q.arn },
    { for k, q in aws_sqs_queue.redriven : k => q.arn },
  )
}

# ------------------------------------------------------------------- secrets the functions read
# Put there by you, never created here (their values never pass through Terraform): a missing secret, or an SSM
# parameter that is not a SecureString, fails the plan, as 'sfn-callback deploy --plan' refuses it.
data "aws_secretsmanager_secret" "required" {
  for_each = { for ref, s in try(local.stack.required_secrets, {}) : ref => s if s.service == "secretsmanager" }
  name     = each.value.name
}

data "aws_ssm_parameter" "required" {
  for_each        = { for ref, s in try(local.stack.required_secrets, {}) : ref => s if s.service == "ssm" }
  name            = each.value.name
  with_decryption = false

  lifecycle {
    postcondition {
      condition     = self.type == "SecureString"
      error_message = "ssm:${each.value.name} (${each.value.purpose}) must be a SecureString parameter."
    }
  }
}

# -------------------------------------------------------------------------------------- functions
resource "aws_lambda_function" "this" {
  for_each         = local.stack.functions
  function_name    = each.value.name
  role             = aws_iam_role.this[each.value.role].arn
  handler          = each.value.handler
  runtime          = each.value.runtime
  timeout          = lookup(var.function_timeouts, each.key, each.value.timeout)
  memory_size      = each.value.memory
  architectures    = ["x86_64"]
  filename         = local.lambda_zip
  source_code_hash = filebase64sha256(local.lambda_zip)

  environment {
    variables = each.value.environment
  }

  tags = local.tags

  # The log group exists (with its retention) before the function can write to it; the role's policy too; and
  # the secrets it reads exist.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this, data.aws_secretsmanager_secret.required,
  data.aws_ssm_parameter.required]
}

# Function URLs (the push endpoint): AuthType NONE, the function checks each request's HMAC signature itself.
resource "aws_lambda_function_url" "this" {
  for_each           = local.stack.function_urls
  function_name      = aws_lambda_function.this[each.value.function].function_name
  authorization_type = each.value.auth_type
}

resource "aws_lambda_permission" "function_url" {
  for_each               = { for k, v in local.stack.function_urls : k => v if v.auth_type == "NONE" }
  statement_id           = "AllowPublicFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this[each.value.function].function_name
  principal              = "*"
  function_url_auth_type = "NONE"
  # Created after the URL and removed before it, never at the same moment (as the deployer does).
  depends_on = [aws_lambda_function_url.this]
}

# AWS asks for lambda:InvokeFunction too since October 2025. The deployer limits it to calls through the URL
# (InvokedViaFunctionUrl); the AWS provider 5.x cannot express that condition, so here it is unconditioned: a
# direct invocation is handled exactly as a request to the URL (the signature check included).
resource "aws_lambda_permission" "function_url_invoke" {
  for_each      = { for k, v in local.stack.function_urls : k => v if v.auth_type == "NONE" }
  statement_id  = "AllowPublicInvokeViaUrl"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this[each.value.function].function_name
  principal     = "*"
  depends_on    = [aws_lambda_function_url.this]
}

resource "aws_lambda_event_source_mapping" "this" {
  for_each                = local.stack.event_source_mappings
  function_name           = aws_lambda_function.this[each.value.function].arn
  event_source_arn        = local.queue_arns[each.value.queue]
  batch_size              = each.value.batch_size
  function_response_types = each.value.report_batch_item_failures ? ["ReportBatchItemFailures"] : []
  enabled                 = true
}

# ------------------------------------------------------------------------------ Scheduler (groups)
resource "aws_scheduler_schedule_group" "this" {
  for_each = local.stack.schedule_groups
  name     = each.value.name
  tags     = local.tags
}

resource "aws_scheduler_schedule" "this" {
  for_each   = local.stack.schedules
  name       = each.value.name
  group_name = aws_scheduler_schedule_group.this[each.value.group].name
  schedule_expression = (
    var.polling_interval_minutes == null ? each.value.expression
    : "rate(${var.polling_interval_minutes} ${var.polling_interval_minutes == 1 ? "minute" : "minutes"})"
  )

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.this[each.value.function].arn
    role_arn = aws_iam_role.this[each.value.role].arn
    input    = each.value.input
  }
}

# --------------------------------------------------------------------------------- state machines
resource "aws_sfn_state_machine" "this" {
  for_each = local.stack.state_machines
  name     = each.value.name
  role_arn = aws_iam_role.this[each.value.role].arn
  type     = "STANDARD"
  # The same ASL file the deployer reads, with the same ${Placeholder} values; a definition the stack
  # computes beyond its placeholders comes inline.
  definition = (
    each.value.definition_file != null
    ? templatefile("${local.source_dir}/${each.value.definition_file}", each.value.substitutions)
    : each.value.definition
  )
  tags = local.tags

  depends_on = [aws_lambda_function.this, aws_iam_role_policy.this]
}

# ------------------------------------------------------------------- monitoring: topic, alarms, dashboard
resource "aws_sns_topic" "this" {
  for_each = local.stack.topics
  name     = each.value.name
  tags     = local.tags
}

# One metric (namespace, metric_name, statistic, period) or metric math (metric_query blocks).
resource "aws_cloudwatch_metric_alarm" "this" {
  for_each            = local.stack.alarms
  alarm_name          = each.value.name
  alarm_description   = each.value.description
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  evaluation_periods  = each.value.evaluation_periods
  datapoints_to_alarm = each.value.datapoints_to_alarm
  treat_missing_data  = each.value.treat_missing_data
  alarm_actions       = [aws_sns_topic.this[each.value.topic].arn]
  ok_actions          = [aws_sns_topic.this[each.value.topic].arn]
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  tags                = local.tags

  dynamic "metric_query" {
    for_each = each.value.queries
    content {
      id          = metric_query.value.id
      expression  = metric_query.value.expression
      label       = metric_query.value.label
      return_data = metric_query.value.return_data

      dynamic "metric" {
        for_each = metric_query.value.expression == null ? [metric_query.value] : []
        content {
          namespace   = metric.value.namespace
          metric_name = metric.value.metric_name
          dimensions  = metric.value.dimensions
          stat        = metric.value.stat
          period      = metric.value.period
        }
      }
    }
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  for_each       = local.stack.dashboards
  dashboard_name = each.value.name
  dashboard_body = each.value.body
}
