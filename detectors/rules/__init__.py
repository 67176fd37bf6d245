"""Sigma-native detection: rule files compiled to array expressions over Arrow batches (`matchers`, `routes`,
`fields`), loaded into one rule set (`ruleset`), evaluated per batch with correlations carried across batches
(`evaluate`, `correlations`)."""
