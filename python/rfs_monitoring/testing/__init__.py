"""Testing helpers for Result-pattern code: mocks, assertions, fixtures, generators."""
