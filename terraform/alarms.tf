# Alarms publish to one encrypted SNS topic; subscribe to it with alarm_email or from outside this stack.

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# A repair message that failed five times needs a human.
resource "aws_cloudwatch_metric_alarm" "repair_dlq_not_empty" {
  alarm_name          = "${var.name_prefix}-repair-dlq-not-empty"
  alarm_description   = "Repair messages reached the DLQ after 5 receives: an order may be left half-compensated."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.repair_dlq.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# Business rejections (insufficient stock, invalid request, reused key) end as FAILED executions whose cause is the
# problem document, so a few failures are ordinary traffic: the threshold is a variable.
resource "aws_cloudwatch_metric_alarm" "executions_failed" {
  alarm_name          = "${var.name_prefix}-saga-executions-failed"
  alarm_description   = "More than ${var.failed_executions_alarm_threshold} saga executions failed in 5 minutes (business rejections count too)."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.order_saga.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.failed_executions_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# The time budget (`saga budget`: every path ends before the workflow's 28 s TimeoutSeconds) should make a
# timed-out execution impossible.
resource "aws_cloudwatch_metric_alarm" "executions_timed_out" {
  alarm_name          = "${var.name_prefix}-saga-executions-timed-out"
  alarm_description   = "A saga execution reached the workflow's TimeoutSeconds: its order is left to the sweeper, and the time budget is wrong."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsTimedOut"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.order_saga.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}
