"""SageMaker's PyTorch training container in script mode, as a local process.

``python -m localcloud.sagemaker_engine.pytorch_container <job dir>`` does what the SageMaker training
toolkit does inside the container: it reads the job's hyperparameters, exports the ``SM_*``
variables (model and output directories, one ``SM_CHANNEL_<NAME>`` per channel, ``SM_HPS``), and
runs ``sagemaker_program`` from the code the engine unpacked into ``<job dir>/code`` with every
other hyperparameter as ``--name value``. The script's exit status is the job's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _value(raw: str) -> str:
    # The SageMaker Python SDK JSON-encodes hyperparameters ("\\"train.py\\""); a bare string is taken as is.
    try:
        decoded = json.loads(raw)
    except ValueError:
        return raw
    return decoded if isinstance(decoded, str) else raw


def main(job_dir: Path) -> int:
    config = job_dir / "input" / "config"
    hyperparameters = {k: _value(v) for k, v in json.loads((config / "hyperparameters.json").read_text()).items()}
    channels = sorted(json.loads((config / "inputdataconfig.json").read_text()))
    program = hyperparameters.get("sagemaker_program", "")
    code = job_dir / "code"
    if not program or not (code / program).is_file():
        (job_dir / "output" / "failure").write_text(
            f"AlgorithmError: sagemaker_program {program!r} is not in the training code (sagemaker_submit_directory)"
        )
        return 1
    user = {k: v for k, v in hyperparameters.items() if not k.startswith("sagemaker_")}
    env = dict(os.environ)
    env.update(
        {
            "SM_MODEL_DIR": str(job_dir / "model"),
            "SM_OUTPUT_DIR": str(job_dir / "output"),
            "SM_OUTPUT_DATA_DIR": str(job_dir / "output" / "data"),
            "SM_INPUT_DIR": str(job_dir / "input"),
            "SM_CHANNELS": json.dumps(channels),
            "SM_HPS": json.dumps(user),
            "SM_USER_ENTRY_POINT": program,
            "SM_MODULE_DIR": str(code),
            **{f"SM_CHANNEL_{name.upper()}": str(job_dir / "input" / "data" / name) for name in channels},
        }
    )
    arguments = [item for name, value in sorted(user.items()) for item in (f"--{name}", value)]
    return subprocess.call([sys.executable, str(code / program), *arguments], cwd=code, env=env)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
