# REST API (Regional). POST /orders calls StartSyncExecution directly; the reads and the stock update are DynamoDB
# service integrations. No Lambda sits in the request path: mapping templates (templates/*.vtl) do the translation,
# and tools/vtl renders them in tests.

resource "aws_api_gateway_rest_api" "api" {
  name        = "${var.name_prefix}-api"
  description = "Order saga: POST /orders, GET /orders/{orderId}, GET|PUT /inventory/{sku}"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  # REST API names need not be unique, so a replacement can exist before the old API goes.
  lifecycle {
    create_before_destroy = true
  }
}

# --- request validation -----------------------------------------------------------------------------------------

resource "aws_api_gateway_request_validator" "body_and_params" {
  rest_api_id                 = aws_api_gateway_rest_api.api.id
  name                        = "body-and-params"
  validate_request_body       = true
  validate_request_parameters = true
}

# The same JSON Schema (draft 4) file validates POST /orders in the local server.
resource "aws_api_gateway_model" "create_order_request" {
  rest_api_id  = aws_api_gateway_rest_api.api.id
  name         = "CreateOrderRequest"
  content_type = "application/json"
  schema       = file("${path.module}/../schemas/order-request.schema.json")
}

resource "aws_api_gateway_model" "set_stock_request" {
  rest_api_id  = aws_api_gateway_rest_api.api.id
  name         = "SetStockRequest"
  content_type = "application/json"
  schema = jsonencode({
    "$schema"            = "http://json-schema.org/draft-04/schema#"
    title                = "SetStockRequest"
    type                 = "object"
    additionalProperties = false
    required             = ["available"]
    properties = {
      # The upper bound keeps the number an exact integer in every JSON parser on the way. A whole number, not
      # draft 4's "integer", which would refuse 6901.0 (docs/openapi.yaml, "Numbers and strings in requests").
      available = { type = "number", multipleOf = 1, minimum = 0, maximum = 1000000000 }
    }
  })
}

# --- resources ---------------------------------------------------------------------------------------------------

resource "aws_api_gateway_resource" "orders" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_rest_api.api.root_resource_id
  path_part   = "orders"
}

resource "aws_api_gateway_resource" "order" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.orders.id
  path_part   = "{orderId}"
}

resource "aws_api_gateway_resource" "inventory" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_rest_api.api.root_resource_id
  path_part   = "inventory"
}

resource "aws_api_gateway_resource" "sku" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  parent_id   = aws_api_gateway_resource.inventory.id
  path_part   = "{sku}"
}

# --- POST /orders -> StartSyncExecution --------------------------------------------------------------------------

resource "aws_api_gateway_method" "create_order" {
  # checkov:skip=CKV_AWS_59:Placing orders is the public entry point of the API; its own throttle (order_throttling_*, sized to the Lambda concurrency quota) bounds it and the request model validates every body. Only the stock update requires IAM.
  rest_api_id          = aws_api_gateway_rest_api.api.id
  resource_id          = aws_api_gateway_resource.orders.id
  http_method          = "POST"
  authorization        = "NONE"
  request_validator_id = aws_api_gateway_request_validator.body_and_params.id
  request_models       = { "application/json" = aws_api_gateway_model.create_order_request.name }
  request_parameters = {
    "method.request.header.Idempotency-Key" = false
  }
}

resource "aws_api_gateway_integration" "create_order" {
  rest_api_id             = aws_api_gateway_rest_api.api.id
  resource_id             = aws_api_gateway_resource.orders.id
  http_method             = aws_api_gateway_method.create_order.http_method
  type                    = "AWS"
  integration_http_method = "POST"
  uri                     = "arn:${local.partition}:apigateway:${local.region}:states:action/StartSyncExecution"
  credentials             = aws_iam_role.api_start_execution.arn
  # The workflow's own TimeoutSeconds (28) ends it first; see the test in tests/plan.tftest.hcl.
  timeout_milliseconds = local.api_integration_timeout_ms
  # Only application/json bodies have a template; anything else is answered 415 instead of being passed through.
  passthrough_behavior = "NEVER"
  request_templates = {
    "application/json" = local.start_execution_request_template
  }
}

locals {
  start_execution_request_template = templatefile("${path.module}/templates/start-execution.request.vtl", {
    state_machine_arn      = aws_sfn_state_machine.order_saga.arn
    enable_fault_injection = var.enable_fault_injection
  })
  start_execution_response_template = templatefile("${path.module}/templates/start-execution.response.vtl", {})
  start_execution_error_template    = templatefile("${path.module}/templates/start-execution.error.vtl", {})
  dynamodb_error_template           = templatefile("${path.module}/templates/dynamodb.error.vtl", {})
}

resource "aws_api_gateway_method_response" "create_order" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_resource.orders.id
  http_method = aws_api_gateway_method.create_order.http_method
  status_code = "200"
  response_parameters = {
    "method.response.header.Location"         = false
    "method.response.header.X-Saga-Execution" = false
  }
}

# StartSyncExecution answers 200 for every finished execution; the template sets the real status.
resource "aws_api_gateway_integration_response" "create_order" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_resource.orders.id
  http_method = aws_api_gateway_method.create_order.http_method
  status_code = aws_api_gateway_method_response.create_order.status_code
  response_templates = {
    "application/json" = local.start_execution_response_template
  }
  depends_on = [aws_api_gateway_integration.create_order]
}

# Step Functions refused the call itself (no execution started).
resource "aws_api_gateway_method_response" "create_order_error" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_resource.orders.id
  http_method = aws_api_gateway_method.create_order.http_method
  status_code = "500"
}

resource "aws_api_gateway_integration_response" "create_order_error" {
  rest_api_id       = aws_api_gateway_rest_api.api.id
  resource_id       = aws_api_gateway_resource.orders.id
  http_method       = aws_api_gateway_method.create_order.http_method
  status_code       = aws_api_gateway_method_response.create_order_error.status_code
  selection_pattern = "[45]\\d{2}"
  response_templates = {
    "application/json" = local.start_execution_error_template
  }
  depends_on = [aws_api_gateway_integration.create_order]
}

# --- GET /orders/{orderId} -> DynamoDB GetItem ------------------------------------------------------------------

resource "aws_api_gateway_method" "get_order" {
  # checkov:skip=CKV_AWS_59:Order reads are public like order creation: an order id is the UUID Step Functions generates as the execution name (the client cannot choose it, see templates/start-execution.request.vtl), and stage throttling bounds the reads.
  rest_api_id          = aws_api_gateway_rest_api.api.id
  resource_id          = aws_api_gateway_resource.order.id
  http_method          = "GET"
  authorization        = "NONE"
  request_validator_id = aws_api_gateway_request_validator.body_and_params.id
  request_parameters = {
    "method.request.path.orderId" = true
  }
}

resource "aws_api_gateway_integration" "get_order" {
  rest_api_id             = aws_api_gateway_rest_api.api.id
  resource_id             = aws_api_gateway_resource.order.id
  http_method             = aws_api_gateway_method.get_order.http_method
  type                    = "AWS"
  integration_http_method = "POST"
  uri                     = "arn:${local.partition}:apigateway:${local.region}:dynamodb:action/GetItem"
  credentials             = aws_iam_role.api_orders_read.arn
  passthrough_behavior    = "NEVER"
  request_templates = {
    "application/json" = templatefile("${path.module}/templates/get-order.request.vtl", {
      orders_table = aws_dynamodb_table.orders.name
    })
  }
}

resource "aws_api_gateway_method_response" "get_order" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_resource.order.id
  http_method = aws_api_gateway_method.get_order.http_method
  status_code = "200"
}

resource "aws_api_gateway_integration_response" "get_order" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_resource.order.id
  http_method = aws_api_gateway_method.get_order.http_method
  status_code = aws_api_gateway_method_response.get_order.status_code
  response_templates = {
    "application/json" = templatefile("${path.module}/templates/get-order.response.vtl", {})
  }
  depends_on = [aws_api_gateway_integration.get_order]
}

resource "aws_api_gateway_method_response" "get_order_error" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_resource.order.id
  http_method = aws_api_gateway_method.get_order.http_method
  status_code = "500"
}

resource "aws_api_gateway_integration_response" "get_order_error" {
  rest_api_id       = aws_api_gateway_rest_api.api.id
  resource_id       = aws_api_gateway_resource.order.id
  http_method       = aws_api_gateway_method.get_order.http_method
  status_code       = aws_api_gateway_method_response.get_order_error.status_code
  selection_pattern = "[45]\\d{2}"
  response_templates = {
    "application/json" = local.dynamodb_error_template
  }
  depends_on = [aws_api_gateway_integration.get_order]
}

# --- GET /inventory/{sku} -> DynamoDB GetItem --------------------------------------------------------------------

resource "aws_api_gateway_method" "get_inventory" {
  # checkov:skip=CKV_AWS_59:Stock levels are public reads; stage throttling bounds them. Only PUT requires IAM.
  rest_api_id          = aws_api_gateway_rest_api.api.id
  resource_id          = aws_api_gateway_resource.sku.id
  http_method          = "GET"
  authorization        = "NONE"
  request_validator_id = aws_api_gateway_request_validator.body_and_params.id
  request_parameters = {
    "method.request.path.sku" = true
  }
}

resource "aws_api_gateway_integration" "get_inventory" {
  rest_api_id             = aws_api_gateway_rest_api.api.id
  resource_id             = aws_api_gateway_resource.sku.id
  http_method             = aws_api_gateway_method.get_inventory.http_method
  type                    = "AWS"
  integration_http_method = "POST"
  uri                     = "arn:${local.partition}:apigateway:${local.region}:dynamodb:action/GetItem"
  credentials             = aws_iam_role.api_inventory_read.arn
  passthrough_behavior    = "NEVER"
  request_templates = {
    "application/json" = templatefile("${path.module}/templates/get-inventory.request.vtl", {
      inventory_table = aws_dynamodb_table.inventory.name
    })
  }
}

resource "aws_api_gateway_method_response" "get_inventory" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_resource.sku.id
  http_method = aws_api_gateway_method.get_inventory.http_method
  status_code = "200"
}

resource "aws_api_gateway_integration_response" "get_inventory" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_resource.sku.id
  http_method = aws_api_gateway_method.get_inventory.http_method
  status_code = aws_api_gateway_method_response.get_inventory.status_code
  response_templates = {
    "application/json" = templatefile("${path.module}/templates/inventory.response.vtl", { item_member = "Item" })
  }
  depends_on = [aws_api_gateway_integration.get_inventory]
}

resource "aws_api_gateway_method_response" "get_inventory_error" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_resource.sku.id
  http_method = aws_api_gateway_method.get_inventory.http_method
  status_code = "500"
}

resource "aws_api_gateway_integration_response" "get_inventory_error" {
  rest_api_id       = aws_api_gateway_rest_api.api.id
  resource_id       = aws_api_gateway_resource.sku.id
  http_method       = aws_api_gateway_method.get_inventory.http_method
  status_code       = aws_api_gateway_method_response.get_inventory_error.status_code
  selection_pattern = "[45]\\d{2}"
  response_templates = {
    "application/json" = local.dynamodb_error_template
  }
  depends_on = [aws_api_gateway_integration.get_inventory]
}

# --- PUT /inventory/{sku} -> DynamoDB UpdateItem (IAM auth) ------------------------------------------------------

resource "aws_api_gateway_method" "put_inventory" {
  rest_api_id          = aws_api_gateway_rest_api.api.id
  resource_id          = aws_api_gateway_resource.sku.id
  http_method          = "PUT"
  authorization        = "AWS_IAM"
  request_validator_id = aws_api_gateway_request_validator.body_and_params.id
  request_models       = { "application/json" = aws_api_gateway_model.set_stock_request.name }
  request_parameters = {
    "method.request.path.sku" = true
  }
}

resource "aws_api_gateway_integration" "put_inventory" {
  rest_api_id             = aws_api_gateway_rest_api.api.id
  resource_id             = aws_api_gateway_resource.sku.id
  http_method             = aws_api_gateway_method.put_inventory.http_method
  type                    = "AWS"
  integration_http_method = "POST"
  uri                     = "arn:${local.partition}:apigateway:${local.region}:dynamodb:action/UpdateItem"
  credentials             = aws_iam_role.api_inventory_write.arn
  passthrough_behavior    = "NEVER"
  request_templates = {
    "application/json" = templatefile("${path.module}/templates/put-inventory.request.vtl", {
      inventory_table = aws_dynamodb_table.inventory.name
    })
  }
}

resource "aws_api_gateway_method_response" "put_inventory" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_resource.sku.id
  http_method = aws_api_gateway_method.put_inventory.http_method
  status_code = "200"
}

resource "aws_api_gateway_integration_response" "put_inventory" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_resource.sku.id
  http_method = aws_api_gateway_method.put_inventory.http_method
  status_code = aws_api_gateway_method_response.put_inventory.status_code
  response_templates = {
    "application/json" = templatefile("${path.module}/templates/inventory.response.vtl", { item_member = "Attributes" })
  }
  depends_on = [aws_api_gateway_integration.put_inventory]
}

resource "aws_api_gateway_method_response" "put_inventory_error" {
  rest_api_id = aws_api_gateway_rest_api.api.id
  resource_id = aws_api_gateway_resource.sku.id
  http_method = aws_api_gateway_method.put_inventory.http_method
  status_code = "500"
}

resource "aws_api_gateway_integration_response" "put_inventory_error" {
  rest_api_id       = aws_api_gateway_rest_api.api.id
  resource_id       = aws_api_gateway_resource.sku.id
  http_method       = aws_api_gateway_method.put_inventory.http_method
  status_code       = aws_api_gateway_method_response.put_inventory_error.status_code
  selection_pattern = "[45]\\d{2}"
  response_templates = {
    "application/json" = local.dynamodb_error_template
  }
  depends_on = [aws_api_gateway_integration.put_inventory]
}

# Whoever may set stock levels gets this policy attached (users, roles or groups of the operators).
resource "aws_iam_policy" "inventory_writer" {
  name        = "${var.name_prefix}-inventory-writer"
  description = "Allows signed PUT /inventory/{sku} requests on the ${var.name_prefix} API."
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["execute-api:Invoke"]
      Resource = ["${aws_api_gateway_rest_api.api.execution_arn}/${aws_api_gateway_stage.api.stage_name}/PUT/inventory/*"]
    }]
  })
}
