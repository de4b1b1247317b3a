variable "region" {
  description = "AWS region to deploy to"
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name; \"poc\" keeps the seed names the sfn-callback CLI uses"
  type        = string
  default     = "poc"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,20}$", var.name_prefix))
    error_message = "name_prefix: lowercase letters, digits and hyphens, at most 21 characters, starting with a letter."
  }
}

variable "build_dir" {
  description = "Output folder of 'sfn-callback package' (lambda.zip and stack.json)"
  type        = string
  default     = null
}

variable "source_dir" {
  description = "Folder holding the sfn_callback package (its ASL files are read from there)"
  type        = string
  default     = null
}

variable "polling_interval_minutes" {
  description = "Rate of the stack's fixed Scheduler schedules (the sweep poller); null keeps the stack's rate(1 minute). A callback job's own polling interval is in its execution input (pollingConfig)."
  type        = number
  default     = null
  validation {
    condition     = var.polling_interval_minutes == null || try(var.polling_interval_minutes >= 1 && floor(var.polling_interval_minutes) == var.polling_interval_minutes, false)
    error_message = "polling_interval_minutes: a whole number of minutes, at least 1 (Scheduler's minimum)."
  }
}

variable "function_timeouts" {
  description = "Lambda timeout in seconds per function, keyed by the stack's function name (e.g. poc-poller); others keep the stack's value"
  type        = map(number)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups; null keeps the stack's value"
  type        = number
  default     = null
}

variable "tags" {
  description = "Extra tags on every resource that takes tags"
  type        = map(string)
  default     = {}
}
