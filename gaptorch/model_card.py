"""The README.md model card written beside every saved model."""

from __future__ import annotations

import json

from gaptorch.model_folder import ModelSpec


def model_card(spec: ModelSpec, quality: str | None = None) -> str:
    """A Markdown card: what the model is, how it was trained, and measured quality."""
    training = spec.training
    lines = [
        f"# {training.get('name', 'gaptorch model')}",
        "",
        f"A gaptorch {spec.kind} ({spec.method.upper()}), architecture `{spec.architecture}`, "
        f"gaptorch {spec.gaptorch_version}.",
        "",
        "## Training",
        "",
        f"- data: {', '.join(training.get('sources', [])) or 'not recorded'}",
        f"- steps: {training.get('steps', '?')}, time: {training.get('seconds', 0):.0f} s on "
        f"{training.get('device', '?')}",
        f"- settings: `{json.dumps(training.get('config', {}), sort_keys=True)}`",
        f"- method: `{json.dumps(spec.method_config, sort_keys=True)}`",
    ]
    if spec.calibration:
        lines.append(
            f"- calibration: gain {spec.calibration['gain']:.4g}, "
            f"offset {spec.calibration['offset']:.4g}"
        )
    lines += ["", "## Quality", "", quality or "Not measured.", ""]
    return "\n".join(lines)
