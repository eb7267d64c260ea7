"""The exceptions dqn_rs raises. Every message is the whole chain of causes
(what failed, then why), as the Rust CLI prints it. An exception your own
environment raises reaches you unchanged, not wrapped in these."""


class DqnRsError(RuntimeError):
    """A failure in dqn_rs's Rust core: training diverged, say."""


class ConfigError(DqnRsError, ValueError):
    """A setting that cannot be used, or an environment whose spaces dqn_rs
    cannot train on; the message names the setting or the space."""


class EnvError(DqnRsError):
    """An environment returned something dqn_rs cannot use (an observation
    of the wrong shape, a NaN reward, a tuple of the wrong size); the message
    names the environment, the step and the problem."""


class CheckpointError(DqnRsError):
    """A saved model that cannot be read (damaged, truncated, or of another
    run) or written; the message names the file and the problem."""
