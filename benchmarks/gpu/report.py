"""The GPU check's markdown (``gpu_check.md``: the tables to paste into BENCHMARKS.md, naming
the card) and the one-line summary of a stage that the runner prints."""

from __future__ import annotations

from typing import Any

from benchmarks.gpu.plan import PAPER, STAGES, sizes


def fmt(x: Any, nd: int = 1) -> str:
    """A figure for the tables: ``nd`` decimals for a float, a dash for nothing."""
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _res(report: dict, name: str) -> dict:
    st = report["stages"].get(name) or {}
    return st.get("result") or {}


def _cell(report: dict, name: str, value: Any, nd: int = 1) -> str:
    """The value, or the stage's status where it did not run or failed before it."""
    st = report["stages"].get(name)
    if value is not None:
        return fmt(value, nd)
    if not st:
        return "not run"
    return st["status"] if st["status"] != "ok" else "—"


def _heading(report: dict) -> list[str]:
    env = _res(report, "env")
    versions = env.get("versions", {})
    return [
        f"## GPU check: {report.get('card') or 'unknown device'}",
        "",
        f"`{report['command']}` ({report['started']}, {fmt(report.get('elapsed_s'), 0)} s"
        f"{', quick toy sizes' if report['mode']['quick'] else ''}). "
        f"Driver {env.get('driver', '—')}, torch {env.get('torch', '—')}, CUDA "
        f"{env.get('cuda', '—')}, cuDNN {env.get('cudnn', '—')}, Python {env.get('python', '—')}, "
        f"lightning {versions.get('lightning', '—')}, pytorch-lightning "
        f"{versions.get('pytorch-lightning', '—')}; GPUs: "
        f"{env.get('gpu_count', '—')}. Every figure below was measured on this device; the "
        f"paper's are an {PAPER['device']}'s.",
        "",
    ]


def _inference(report: dict) -> list[str]:
    sz = sizes(report["mode"]["quick"])
    size, batch = sz["size"], sz["batch"]
    ours = _res(report, "fps_ours")
    amp = ours.get("amp_dtype", "fp16")
    lines = [
        f"### Inference, {size}x{size} (FPS at batch 1 unless named)",
        "",
        f"| RAS | authors' protocol (fp32 eager, no warm-up) | ... without the first image "
        f"| eager fp32, warmed up | ours fp32 (BN folded, channels-last, cuDNN autotune) "
        f"| ours {amp} autocast | torch.compile {amp} | batch {batch} {amp}, images/s "
        f"| paper ({PAPER['device']}) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in ("v1", "v2"):
        a = _res(report, f"fps_authors_{v}")
        o = ours.get(v) or {}
        c = _res(report, f"compile_{v}")
        comp = _cell(report, f"compile_{v}", c.get("amp_fps"))
        if c.get("compile_s") is not None:
            comp += f" (compiled in {c['compile_s']:.0f} s)"
        lines.append(
            f"| {v} | {_cell(report, f'fps_authors_{v}', a.get('fps'))} "
            f"| {_cell(report, f'fps_authors_{v}', a.get('fps_without_first'))} "
            f"| {_cell(report, 'fps_ours', o.get('eager_fp32_warm_fps'))} "
            f"| {_cell(report, 'fps_ours', o.get('fp32_fps'))} "
            f"| {_cell(report, 'fps_ours', o.get('amp_fps'))} | {comp} "
            f"| {_cell(report, 'fps_ours', o.get('batched_amp_images_per_s'))} "
            f"| {PAPER['fps'][v]:.0f} |"
        )
    return lines


def _training(report: dict) -> list[str]:
    lines = [
        "",
        "### Training throughput (Lightning Trainer + RASModule, in-memory random batches)",
        "",
        "| recipe | batch | precision | optimizer | images/s | ms/step | peak GPU memory GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("train_v2_amp", "train_v2_fp32", "train_v1_fp32"):
        r = _res(report, name)
        lines.append(
            f"| {name.split('_')[1]} | {fmt(r.get('batch'))} | {fmt(r.get('precision'))} "
            f"| {fmt(r.get('optimizer'))} | {_cell(report, name, r.get('images_per_s'))} "
            f"| {_cell(report, name, r.get('step_ms'))} "
            f"| {_cell(report, name, r.get('peak_gpu_gib'), 2)} |"
        )
    return lines


def _demo_run(report: dict) -> list[str]:
    e2e, ev, ddp = _res(report, "e2e_train"), _res(report, "eval"), _res(report, "ddp")
    losses = e2e.get("train_loss_per_epoch") or []
    test = e2e.get("test") or {}
    em = ev.get("metrics") or {}
    ddp_status = (report["stages"].get("ddp") or {}).get("status", "not run")
    return [
        "",
        "### Short real run on the demo data (train -> test -> eval)",
        "",
        f"- `python -m ras_lightning.train` ({_cell(report, 'e2e_train', e2e.get('epochs'))} "
        f"epochs, {_cell(report, 'e2e_train', e2e.get('seconds'), 0)} s): train loss per "
        f"epoch {', '.join(f'{x:.3f}' for x in losses) or '—'}; "
        f"test DEMO-TE max_f {fmt(test.get('test/DEMO-TE/max_f'), 3)}, "
        f"MAE {fmt(test.get('test/DEMO-TE/mae'), 3)}.",
        f"- `python -m ras_lightning.eval` (last.ckpt, {fmt(ev.get('backend'))}): "
        f"max_f {_cell(report, 'eval', em.get('max_f'), 3)}, MAE "
        f"{_cell(report, 'eval', em.get('mae'), 3)}, S-measure "
        f"{_cell(report, 'eval', em.get('s_measure'), 3)}; "
        f"{_cell(report, 'eval', ev.get('fps'))} FPS on {fmt(ev.get('fps_device'))}.",
        f"- DDP ({fmt(ddp.get('gpus'))} GPUs): {ddp_status}"
        + (
            f"; max |test metric difference| against one GPU {ddp['max_abs_diff']:.2e}"
            if ddp.get("max_abs_diff") is not None
            else ""
        ),
    ]


def _stages(report: dict) -> list[str]:
    lines = ["", "### Stages", "", "| stage | status | seconds | limit s |", "|---|---|---|---|"]
    order = [n for n, _, _ in STAGES if n in report["stages"]]
    for name in order + [n for n in report["stages"] if n not in order]:
        st = report["stages"][name]
        lines.append(
            f"| {name} | {st['status']} | {fmt(st.get('seconds'))} | {fmt(st.get('limit_s'))} |"
        )
    inst = report.get("install") or {}
    if inst:
        lines.append(
            f"\nOffline install: {inst.get('status')}"
            + (f" ({len(inst.get('installed', []))} wheels)" if inst.get("installed") else "")
        )
    return lines


def render_md(report: dict) -> str:
    """``gpu_check.md`` of a report (``gpu_check.json``'s content), finished or not."""
    parts = (_heading, _inference, _training, _demo_run, _stages)
    return "\n".join(line for part in parts for line in part(report)) + "\n"


def summary(res: dict) -> str:
    """A short line of a stage's main figures for the progress print."""
    keys = (
        "card", "driver", "torch", "fps", "fps_without_first", "images_per_s", "peak_gpu_gib",
        "epochs", "loss_decreasing", "compile_s", "amp_fps", "max_abs_diff",
    )  # fmt: skip
    parts = [f"{k}={fmt(res[k], 2)}" for k in keys if res.get(k) is not None]
    for v in ("v1", "v2"):
        if isinstance(res.get(v), dict):
            r = res[v]
            parts.append(
                f"{v}: fp32 {fmt(r.get('fp32_fps'))} amp {fmt(r.get('amp_fps'))} "
                f"batched {fmt(r.get('batched_amp_images_per_s'))} FPS"
            )
    if isinstance(res.get("metrics"), dict):
        parts.append(f"max_f={fmt(res['metrics'].get('max_f'), 3)}")
    return ", ".join(parts)
