//! Step Functions States Language (JSONPath mode) engine: parses, validates and runs a definition as an Express workflow.
