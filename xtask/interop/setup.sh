#!/usr/bin/env bash
# The Python of the interop checks: the anchors' venv (torch, gymnasium) plus
# safetensors, onnx, onnxruntime and tensorboard, for
#   crates/runner/tests/generate_interop_golden.py   (PyTorch and ONNX Runtime)
#   xtask/interop/check_tensorboard.py               (TensorBoard's own reader)
# Usage: bash xtask/interop/setup.sh [VENV_DIR]   (default: /tmp/dqn-anchor-venv)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-/tmp/dqn-anchor-venv}
bash "$here/../../../shared/anchors/setup.sh" "$venv"
"$venv/bin/pip" install -q safetensors onnx onnxruntime tensorboard
"$venv/bin/python" -c "import safetensors, onnx, onnxruntime, tensorboard; print('safetensors', safetensors.__version__, 'onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__, 'tensorboard', tensorboard.__version__)"
echo "ready: $venv/bin/python"
