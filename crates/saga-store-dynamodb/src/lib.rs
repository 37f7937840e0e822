//! DynamoDB implementation of the saga stores.
