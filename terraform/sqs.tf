# The repair queue receives a message when a compensation fails after its retries (workflow state EnqueueRepair);
# the repair worker drains it. Messages that fail five times land in the DLQ, which pages (alarms.tf).

resource "aws_sqs_queue" "repair_dlq" {
  name                              = "${var.name_prefix}-repair-dlq"
  message_retention_seconds         = 1209600 # 14 days, the maximum: a human must look at these.
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_sqs_queue" "repair" {
  name = "${var.name_prefix}-repair"
  # Lambda's SQS poller needs the visibility timeout to cover retries of a batch: AWS recommends six times the
  # function timeout.
  visibility_timeout_seconds        = 6 * var.repair_worker_timeout_seconds
  message_retention_seconds         = 345600 # 4 days
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = aws_kms_key.main.arn
  kms_data_key_reuse_period_seconds = 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.repair_dlq.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "repair_dlq" {
  queue_url = aws_sqs_queue.repair_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.repair.arn]
  })
}
