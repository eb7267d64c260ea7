"""What every peer of the suite shares: the machine it ran on (a wall-time ratio holds only on the
machine it was measured on) and how it hands over its result."""
import json


def cpu_model():
    """The CPU's model name from /proc/cpuinfo ("unknown" elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


def emit(result, path):
    """Prints the result as one JSON line and, given a path, writes it there (for run_peers.sh)."""
    print(json.dumps(result))
    if path:
        with open(path, "w") as f:
            json.dump(result, f)
