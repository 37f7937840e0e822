locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # The workflow is read twice: decoded here for the numbers the deployment must respect, and rendered with
  # templatefile in stepfunctions.tf so that its ${...} placeholders receive the real ARNs.
  workflow_path = "${path.module}/../workflow.asl.json"
  workflow      = jsondecode(file(local.workflow_path))

  # Saga task functions and the Task state that invokes each one.
  saga_task_states = {
    "create-order"  = "CreateOrder"
    "reserve-stock" = "ReserveStock"
    "confirm-order" = "ConfirmOrder"
    "fence-order"   = "FenceOrder"
    "release-stock" = "ReleaseStock"
    "cancel-order"  = "CancelOrder"
  }

  # A Lambda that outlives its Task's TimeoutSeconds keeps writing after Step Functions has moved on to the
  # retry or the compensation, so each saga function times out no later than its task does. With equal clocks
  # either may fire first. Lambda's own timeout reaches the workflow as Lambda.Unknown ("Unhandled errors in Lambda
  # are reported as Lambda.Unknown ... These include out-of-memory errors and function timeouts": Step Functions
  # developer guide, "Handle Lambda service exceptions") or, on current runtimes, as Sandbox.Timedout (seen on live
  # stacks: aws-solutions-library-samples/accelerated-intelligent-document-processing-on-aws issues #757 and #917).
  # workflow.asl.json retries both like States.Timeout and answers 504 (ClassifyInfrastructure).
  saga_task_timeouts = { for fn, state in local.saga_task_states : fn => local.workflow.States[state].TimeoutSeconds }

  function_timeouts = merge(local.saga_task_timeouts, {
    "repair-worker" = var.repair_worker_timeout_seconds
    "order-sweeper" = var.order_sweeper_timeout_seconds
  })

  function_names = { for fn in keys(local.function_timeouts) : fn => "${var.name_prefix}-${fn}" }

  # A REST API integration waits at most 29 s unless the account's quota is raised; the workflow (its top-level
  # TimeoutSeconds, 28 s) must give up first.
  api_integration_timeout_ms = 29000

  common_environment = {
    ORDERS_TABLE            = aws_dynamodb_table.orders.name
    INVENTORY_TABLE         = aws_dynamodb_table.inventory.name
    RESERVATIONS_TABLE      = aws_dynamodb_table.reservations.name
    IDEMPOTENCY_TABLE       = aws_dynamodb_table.idempotency.name
    IDEMPOTENCY_TTL_SECONDS = tostring(var.idempotency_ttl_seconds)
  }

  # Lambda sets AWS_LAMBDA_LOG_LEVEL from logging_config (lambda.tf); RUST_LOG, when present, would override it
  # inside the function, so it is set only when asked for.
  function_environment = {
    for fn in keys(local.function_timeouts) : fn => merge(
      local.common_environment,
      var.rust_log == "" ? {} : { RUST_LOG = var.rust_log },
      fn == "order-sweeper" ? { SWEEP_AFTER_SECONDS = tostring(var.sweep_after_seconds) } : {},
    )
  }

  lambda_zip_dir = startswith(var.lambda_zip_dir, "/") ? var.lambda_zip_dir : "${path.module}/${var.lambda_zip_dir}"
  lambda_zips    = { for fn in keys(local.function_timeouts) : fn => "${local.lambda_zip_dir}/${fn}/bootstrap.zip" }
}
