# Every input of the deployment. docs/deploy.md repeats these with their reasons.

variable "region" {
  description = "AWS Region to deploy into (the REST API is Regional)."
  type        = string
  default     = "eu-west-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name, so two stacks can share an account (for example \"order-saga-dev\")."
  type        = string
  default     = "order-saga"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix must be 2-31 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags added to every resource (merged into the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "lambda_zip_dir" {
  description = "Directory holding <function>/bootstrap.zip, as written by `cargo build-lambdas` at the repository root (relative to this directory or absolute; $CARGO_TARGET_DIR/lambda when CARGO_TARGET_DIR is set)."
  type        = string
  default     = "../target/lambda"
}

variable "lambda_architecture" {
  description = "Instruction set of the Lambda functions; must match the build (`cargo build-lambdas` builds arm64, the default; `cargo build-lambdas-x86-64` builds x86_64)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "lambda_memory_mb" {
  description = "Memory of every function in MB. CPU scales with memory; 256 MB keeps a Rust cold start well inside the 2 s task timeout."
  type        = number
  default     = 256
}

variable "repair_worker_timeout_seconds" {
  description = "Timeout of the repair worker. The repair queue's visibility timeout is six times this value."
  type        = number
  default     = 10
}

variable "order_sweeper_timeout_seconds" {
  description = "Timeout of the order sweeper; keep it below the 60 s schedule so sweeps do not pile up."
  type        = number
  default     = 50

  validation {
    condition     = var.order_sweeper_timeout_seconds >= 1 && var.order_sweeper_timeout_seconds < 60
    error_message = "order_sweeper_timeout_seconds must be between 1 and 59."
  }
}

variable "lambda_log_level" {
  description = "Application log level of every function (logging_config application_log_level). Lambda hands it to the function as AWS_LAMBDA_LOG_LEVEL, which lambda_runtime's tracing subscriber takes as its level, and drops JSON log lines whose \"level\" is below it. Only TRACE, DEBUG and INFO: AWS documents that Lambda treats a JSON line without an RFC 3339 timestamp as INFO, and lambda_runtime's subscriber writes none, so at WARN or ERROR Lambda would drop every line, errors included."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO"], var.lambda_log_level)
    error_message = "lambda_log_level must be TRACE, DEBUG or INFO (see the variable's description for why not WARN or ERROR)."
  }
}

variable "lambda_system_log_level" {
  description = "Level of Lambda's own log lines for every function (logging_config system_log_level): DEBUG, INFO or WARN. INFO keeps START and the REPORT line with each invocation's duration, memory and init time; WARN drops them."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.lambda_system_log_level)
    error_message = "lambda_system_log_level must be DEBUG, INFO or WARN."
  }
}

variable "rust_log" {
  description = "Optional RUST_LOG of every function, in tracing-subscriber's filter syntax, for per-crate levels (for example \"info,aws_smithy_runtime=debug\"). Empty, the default, leaves RUST_LOG unset so that lambda_log_level alone decides. When set, its directives replace lambda_log_level inside the function (lambda_runtime's filter reads RUST_LOG), and Lambda still drops lines below lambda_log_level."
  type        = string
  default     = ""
}

variable "idempotency_ttl_seconds" {
  description = "How long an Idempotency-Key is remembered (IDEMPOTENCY_TTL_SECONDS; DynamoDB TTL on expiresAt)."
  type        = number
  default     = 86400
}

variable "sweep_after_seconds" {
  description = "Age after which the order sweeper compensates an order still PENDING (SWEEP_AFTER_SECONDS). Must exceed the workflow's top-level TimeoutSeconds."
  type        = number
  default     = 120

  validation {
    condition     = var.sweep_after_seconds > jsondecode(file("${path.module}/../workflow.asl.json")).TimeoutSeconds
    error_message = "sweep_after_seconds must exceed the workflow's top-level TimeoutSeconds (workflow.asl.json)."
  }
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group (Lambda, state machine, API access logs). Must be a value CloudWatch accepts."
  type        = number
  default     = 365
}

variable "include_execution_data" {
  description = "Whether the state machine's CloudWatch logs (level ALL) include input and output. Express workflows have no execution history: without it, failures can only be debugged from the Lambda logs. The data contains order requests (customer ids)."
  type        = bool
  default     = true
}

variable "enable_fault_injection" {
  description = "Forward the X-Saga-Fault header into the workflow input as `faults` (for the contract tests' failure scenarios). Never enable it on a production stage: when false the request template does not read the header at all."
  type        = bool
  default     = false
}

variable "table_deletion_protection" {
  description = "DynamoDB deletion protection on the four tables. Set false before `terraform destroy` of a throwaway stack."
  type        = bool
  default     = true
}

variable "api_throttling_rate_limit" {
  description = "Steady-state requests per second allowed on each method of the stage except POST /orders: the reads and the stock update are DynamoDB integrations and run no Lambda."
  type        = number
  default     = 50
}

variable "api_throttling_burst_limit" {
  description = "Burst of requests allowed on each method of the stage except POST /orders."
  type        = number
  default     = 100
}

variable "lambda_concurrency_quota" {
  description = "Lambda concurrency this stack may use in the Region: the account's \"Concurrent executions\" quota (Service Quotas, AWS Lambda), less what other functions in the account need (`aws lambda get-account-settings` shows it as AccountLimit.ConcurrentExecutions). New accounts start with a reduced quota, as low as 10. POST /orders' throttle is derived from it (api_stage.tf); after the quota is raised, set the new value here."
  type        = number
  default     = 10

  validation {
    # The repair worker and the sweeper may hold 3 instances (api_stage.tf); sagas need at least one more.
    condition     = var.lambda_concurrency_quota >= 4 && var.lambda_concurrency_quota == floor(var.lambda_concurrency_quota)
    error_message = "lambda_concurrency_quota must be a whole number of at least 4."
  }
}

variable "order_throttling_rate_limit" {
  description = "Steady-state requests per second allowed on POST /orders. Null derives it from lambda_concurrency_quota (14 for a quota of 10; api_stage.tf shows the arithmetic)."
  type        = number
  default     = null
}

variable "order_throttling_burst_limit" {
  description = "Burst of requests allowed on POST /orders. Null derives it from lambda_concurrency_quota (7 for a quota of 10)."
  type        = number
  default     = null
}

variable "failed_executions_alarm_threshold" {
  description = "The ExecutionsFailed alarm fires when more than this many executions fail in 5 minutes. Business rejections (insufficient stock, validation, reused keys) also end as FAILED, so 0 would page on ordinary traffic."
  type        = number
  default     = 10
}

variable "alarm_email" {
  description = "Optional e-mail address subscribed to the alarm topic (the subscription must be confirmed from the mail). Empty: no subscription."
  type        = string
  default     = ""
}

variable "api_execution_logging_level" {
  description = "API Gateway execution logging level of the stage (OFF, ERROR or INFO). Anything but OFF needs the account's API Gateway CloudWatch role (manage_api_gateway_account)."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.api_execution_logging_level)
    error_message = "api_execution_logging_level must be OFF, ERROR or INFO."
  }
}

variable "manage_api_gateway_account" {
  description = "Create the account-wide API Gateway CloudWatch role (AWS's AmazonAPIGatewayPushToCloudWatchLogs policy) and point the account setting at it (one per account and Region). Set false when another stack or the account baseline already sets it; the stage's execution and access logs then go through that role, which must exist or the stage's access log settings are refused."
  type        = bool
  default     = true
}
