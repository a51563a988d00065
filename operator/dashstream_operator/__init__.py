"""DashStream Operator: reconciles DashStreamPipeline, AlertRuleSet and DashboardSet."""

__version__ = "0.1.0"
