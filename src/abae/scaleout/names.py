"""The executors' names and the environment variable that picks one (no imports: the CLI reads these)."""

EXECUTOR_ENV_VAR = "ABAE_EXECUTOR"
EXECUTOR_NAMES = ("local", "ray")
