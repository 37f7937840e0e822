# Deployment, stage, access logs, throttling and the gateway's own error answers.

resource "aws_api_gateway_deployment" "api" {
  rest_api_id = aws_api_gateway_rest_api.api.id

  # A REST API change reaches the stage only through a new deployment.
  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_model.create_order_request,
      aws_api_gateway_model.set_stock_request,
      aws_api_gateway_request_validator.body_and_params,
      aws_api_gateway_resource.orders,
      aws_api_gateway_resource.order,
      aws_api_gateway_resource.inventory,
      aws_api_gateway_resource.sku,
      aws_api_gateway_method.create_order,
      aws_api_gateway_method.get_order,
      aws_api_gateway_method.get_inventory,
      aws_api_gateway_method.put_inventory,
      aws_api_gateway_integration.create_order,
      aws_api_gateway_integration.get_order,
      aws_api_gateway_integration.get_inventory,
      aws_api_gateway_integration.put_inventory,
      aws_api_gateway_integration_response.create_order,
      aws_api_gateway_integration_response.create_order_error,
      aws_api_gateway_integration_response.get_order,
      aws_api_gateway_integration_response.get_order_error,
      aws_api_gateway_integration_response.get_inventory,
      aws_api_gateway_integration_response.get_inventory_error,
      aws_api_gateway_integration_response.put_inventory,
      aws_api_gateway_integration_response.put_inventory_error,
      aws_api_gateway_gateway_response.problem,
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${var.name_prefix}-api/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

locals {
  api_stage_name = "v1"
}

# API Gateway writes the stage's execution logs (logging_level) to API-Gateway-Execution-Logs_{rest-api-id}/{stage}
# and creates that group itself, with no retention and no KMS key, unless it already exists (AWS's guide, "Set up
# CloudWatch logging for REST APIs"). Creating it before the stage gives it the stack's retention and key. The key
# policy (kms.tf) lets CloudWatch Logs use the key for any log group of this account and Region, this one included.
resource "aws_cloudwatch_log_group" "api_execution" {
  name              = "API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.api.id}/${local.api_stage_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_api_gateway_stage" "api" {
  # checkov:skip=CKV_AWS_120:Responses must not be cached: an order's status and a stock level change between reads, and POST is never cacheable.
  # checkov:skip=CKV2_AWS_29:No WAF by default (it costs 5 USD a month plus rules); stage throttling bounds abuse. docs/deploy.md shows how to associate a web ACL.
  # checkov:skip=CKV2_AWS_51:Clients are public HTTP clients, not mutual-TLS peers; the integrations are AWS services reached with IAM, which need no client certificate.
  deployment_id        = aws_api_gateway_deployment.api.id
  rest_api_id          = aws_api_gateway_rest_api.api.id
  stage_name           = local.api_stage_name
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      extendedRequestId  = "$context.extendedRequestId"
      requestTime        = "$context.requestTimeEpoch"
      httpMethod         = "$context.httpMethod"
      resourcePath       = "$context.resourcePath"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationStatus  = "$context.integration.status"
      integrationLatency = "$context.integration.latency"
      integrationError   = "$context.integration.error"
      errorType          = "$context.error.responseType"
      errorMessage       = "$context.error.message"
      sourceIp           = "$context.identity.sourceIp"
      userArn            = "$context.identity.userArn"
      xrayTraceId        = "$context.xrayTraceId"
    })
  }

  # The account's CloudWatch role must be set before a stage may log, and the execution log group must exist before
  # the first request logs, or API Gateway creates its own.
  depends_on = [aws_api_gateway_account.api, aws_cloudwatch_log_group.api_execution]
}

# --- throttling --------------------------------------------------------------------------------------------------
# POST /orders is the only route that runs Lambda functions, so it gets its own throttle, sized to the account's
# Lambda concurrency quota (var.lambda_concurrency_quota). AWS's Lambda guide ("Lambda quotas") says new accounts
# have reduced concurrency quotas, raised with use or through Service Quotas; 10 is what a new account may get.
# A saga runs its tasks one after another, so a saga in flight holds at most one function instance, and by Little's
# law the concurrency POST /orders needs is its request rate times the Lambda time of one saga:
#   - a compensated saga makes 5 invocations (create, reserve, fence, release, cancel; 3 when it succeeds);
#   - each is taken as 100 ms: warm ones make a few DynamoDB calls and take tens of ms, cold starts and
#     transactions take longer;
#   - so one saga holds an instance for about 5 × 100 ms = 0.5 s;
#   - the repair worker (its event source is capped at 2 concurrent batches, lambda.tf) and the sweeper (one run a
#     minute, with no Lambda retries, lambda.tf) may hold 3 instances besides.
# With a quota of 10: rate = (10 - 3) / 0.5 s = 14 requests/s, and burst = 10 - 3 = 7, because every request of a
# burst starts create-order at the same moment. Above that Lambda answers TooManyRequestsException: the workflow
# retries it, but the retries spend the 28 s budget, and once they run out the client gets an error where the
# throttle would have given it a 429 before anything started.
locals {
  saga_lambda_invocations       = 5
  saga_lambda_ms_each           = 100
  background_lambda_concurrency = 3
  saga_lambda_concurrency       = var.lambda_concurrency_quota - local.background_lambda_concurrency

  order_throttling_rate_limit = coalesce(
    var.order_throttling_rate_limit,
    floor(local.saga_lambda_concurrency * 1000 / (local.saga_lambda_invocations * local.saga_lambda_ms_each)),
  )
  order_throttling_burst_limit = coalesce(var.order_throttling_burst_limit, local.saga_lambda_concurrency)
}

# Stage-wide settings. API Gateway applies a stage's throttle to each method separately (AWS's guide, "Throttle
# requests to your REST APIs"), and POST /orders overrides it below.
resource "aws_api_gateway_method_settings" "all" {
  # checkov:skip=CKV_AWS_225:Caching stays off on purpose: an order's status and a stock level change between reads, and POST is never cacheable.
  rest_api_id = aws_api_gateway_rest_api.api.id
  stage_name  = aws_api_gateway_stage.api.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = var.api_execution_logging_level
    data_trace_enabled     = false
    throttling_rate_limit  = var.api_throttling_rate_limit
    throttling_burst_limit = var.api_throttling_burst_limit
    caching_enabled        = false
  }
}

resource "aws_api_gateway_method_settings" "create_order" {
  # checkov:skip=CKV_AWS_225:Caching stays off on purpose: POST is never cacheable.
  rest_api_id = aws_api_gateway_rest_api.api.id
  stage_name  = aws_api_gateway_stage.api.stage_name
  method_path = "${aws_api_gateway_resource.orders.path_part}/${aws_api_gateway_method.create_order.http_method}"

  settings {
    metrics_enabled        = true
    logging_level          = var.api_execution_logging_level
    data_trace_enabled     = false
    throttling_rate_limit  = local.order_throttling_rate_limit
    throttling_burst_limit = local.order_throttling_burst_limit
    caching_enabled        = false
  }

  # Both update the same stage; one at a time avoids a concurrent-modification conflict.
  depends_on = [aws_api_gateway_method_settings.all]
}

# Execution logging (logging_level) and access logs are both delivered with the account-wide API Gateway CloudWatch
# role. It is one setting per account and Region: set manage_api_gateway_account = false when another stack already
# manages it.
resource "aws_iam_role" "api_gateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  name = "${var.name_prefix}-apigw-cloudwatch"
  # No aws:SourceAccount condition: API Gateway does not send it when it assumes this role (see iam_api.tf for the
  # live report), and UpdateAccount would then refuse the role.
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "apigateway.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# AWS's managed policy, not a narrower inline one. UpdateAccount validates cloudwatchRoleArn by writing to the log
# group /aws/apigateway/welcome and refuses a role that cannot ("API Gateway could not successfully write to
# CloudWatch Logs using the ARN specified"), access logs go to /aws/apigateway/<prefix>-api/access with this same
# role, and the role serves every API in the account and Region: a policy limited to this stack's log groups fails
# the apply and would break logging for the other APIs. AWS's guide to CloudWatch logging for REST APIs names this
# policy.
resource "aws_iam_role_policy_attachment" "api_gateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  role       = aws_iam_role.api_gateway_cloudwatch[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "api" {
  count = var.manage_api_gateway_account ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.api_gateway_cloudwatch[0].arn
  # A just-attached policy may not have reached IAM everywhere yet; the provider retries UpdateAccount while it answers
  # "The role ARN does not have required permissions".
  depends_on = [aws_iam_role_policy_attachment.api_gateway_cloudwatch]
}

# --- the gateway's own errors as problem documents --------------------------------------------------------------
# Gateway responses are not VTL: only $context variables are substituted. $context.error.messageString is already a
# quoted JSON string; $context.error.validationErrorString is not quoted. None of these started an execution.

locals {
  gateway_problems = {
    BAD_REQUEST_BODY = {
      status = 400, type = "/problems/validation-failed", title = "The request is invalid"
      detail = "\"$context.error.validationErrorString\"", compensation = "not-needed"
    }
    BAD_REQUEST_PARAMETERS = {
      status = 400, type = "/problems/validation-failed", title = "The request is invalid"
      detail = "\"$context.error.validationErrorString\"", compensation = "not-needed"
    }
    UNSUPPORTED_MEDIA_TYPE = {
      status = 415, type = "/problems/unsupported-media-type", title = "Unsupported media type"
      detail = "\"Send the body as application/json.\"", compensation = "not-needed"
    }
    REQUEST_TOO_LARGE = {
      status = 413, type = "/problems/payload-too-large", title = "Payload too large"
      detail = "$context.error.messageString", compensation = "not-needed"
    }
    MISSING_AUTHENTICATION_TOKEN = {
      # API Gateway also answers this for a route that does not exist.
      status = 403, type = "/problems/forbidden", title = "Missing authentication or unknown route"
      detail = "$context.error.messageString", compensation = "not-needed"
    }
    ACCESS_DENIED = {
      status = 403, type = "/problems/forbidden", title = "Access denied"
      detail = "$context.error.messageString", compensation = "not-needed"
    }
    INVALID_SIGNATURE = {
      status = 403, type = "/problems/forbidden", title = "Invalid signature"
      detail = "$context.error.messageString", compensation = "not-needed"
    }
    EXPIRED_TOKEN = {
      status = 403, type = "/problems/forbidden", title = "Expired token"
      detail = "$context.error.messageString", compensation = "not-needed"
    }
    THROTTLED = {
      status = 429, type = "/problems/throttled", title = "Too many requests"
      detail = "$context.error.messageString", compensation = "not-needed"
    }
    QUOTA_EXCEEDED = {
      status = 429, type = "/problems/throttled", title = "Quota exceeded"
      detail = "$context.error.messageString", compensation = "not-needed"
    }
    DEFAULT_4XX = {
      status = null, type = "/problems/client-error", title = "The request was refused"
      detail = "$context.error.messageString", compensation = "not-needed"
    }
    # The integration may have started an execution that is still running: the workflow's own 28 s timeout
    # ends it and the order sweeper compensates whatever it left PENDING.
    INTEGRATION_TIMEOUT = {
      status = 504, type = "/problems/gateway-timeout", title = "The saga did not answer in time"
      detail = "\"The integration did not answer within 29 s; the order sweeper will compensate.\"", compensation = "pending"
    }
    # API Gateway could not call the integration as configured: above all, it could not assume the integration
    # role (the integration then logs "API Gateway does not have permission to assume the provided role"). No
    # execution started. The same type also covers a response mapping that failed after an execution ended; that
    # execution settled itself (compensated, or queued for repair), so nothing is pending on this answer's account.
    API_CONFIGURATION_ERROR = {
      status = 500, type = "/problems/gateway-misconfigured", title = "The API is misconfigured"
      detail = "$context.error.messageString", compensation = "not-needed"
    }
    # Other gateway 5xx (an integration that failed mid-call, say) may have started an execution, which the order
    # sweeper compensates if it left the order PENDING.
    DEFAULT_5XX = {
      status = null, type = "/problems/gateway-error", title = "The gateway failed"
      detail = "$context.error.messageString", compensation = "pending"
    }
  }
}

resource "aws_api_gateway_gateway_response" "problem" {
  for_each = local.gateway_problems

  rest_api_id   = aws_api_gateway_rest_api.api.id
  response_type = each.key
  status_code   = each.value.status == null ? null : tostring(each.value.status)

  response_parameters = {
    "gatewayresponse.header.Content-Type" = "'application/problem+json'"
  }

  # A DEFAULT_* response covers several statuses, so it leaves "status" out (RFC 9457 makes it optional).
  response_templates = {
    "application/json" = join("", [
      "{\"type\":\"${each.value.type}\",\"title\":\"${each.value.title}\",",
      each.value.status == null ? "" : "\"status\":${each.value.status},",
      "\"detail\":${each.value.detail},\"compensation\":\"${each.value.compensation}\"}",
    ])
  }
}
