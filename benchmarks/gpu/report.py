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


def _paper(report: dict) -> list[str]:
    """The paper-run suite (issue 24): data, our loop against the network alone and the
    authors' loop, the 32-epoch time, the fast batch-1 mode."""
    data, load = _res(report, "duts_data"), _res(report, "duts_loader")
    ours_all, auth = _res(report, "train_duts_ours"), _res(report, "train_duts_authors")
    fast = _res(report, "fps_fast")
    ours, fixed = ours_all.get("ours") or {}, ours_all.get("ours_fixed") or {}
    net = ours_all.get("network_only") or {}
    lines = [
        "",
        "### Paper run: DUTS-sized JPEGs, v2 recipe (issue 24)",
        "",
        f"Data: {_cell(report, 'duts_data', data.get('photos'))} JPEG photos + PNG masks made "
        f"here by the demo generator ({data.get('sizes', '—')}), "
        f"{fmt(data.get('jpeg_mb'), 0)} MB, in {fmt(data.get('seconds'), 0)} s on "
        f"{fmt(data.get('processes'))} processes. Our first set-up decodes every file once "
        f"(cached for later runs): {fmt(load.get('first_setup_s'), 1)} s.",
        "",
        "| pipeline | workers | images/s |",
        "|---|---|---|",
    ]
    for key, name in (
        ("ours_default", "ours, data only (the recipe's workers)"),
        ("ours_all_cores", "ours, data only (one worker per core)"),
    ):
        r = load.get(key) or {}
        lines.append(f"| {name} | {fmt(r.get('workers'))} "
                     f"| {_cell(report, 'duts_loader', r.get('images_per_s'))} |")  # fmt: skip
    a = load.get("authors") or {}
    lines += [
        f"| authors', data only | {fmt(a.get('workers'))} "
        f"| {_cell(report, 'duts_loader', a.get('images_per_s'))} |",
        f"| ours, network only (in-memory batches, the recipe's sizes) | — "
        f"| {_cell(report, 'train_duts_ours', net.get('images_per_s'))} |",
    ]
    rows = [("ours, end to end (`train strategy=v2`)", "train_duts_ours", ours)]
    if fixed:
        rows.append((f"ours, end to end, {ours_all.get('fix')}", "train_duts_ours", fixed))
    rows.append(("authors' loop (native AMP)", "train_duts_authors", auth))
    lines += [
        "",
        f"Training, {ours_all.get('precision', '—')}, whole epochs "
        f"(images/s of the last measured epoch):",
        "",
        "| loop | workers | epochs s | images/s | 32-epoch paper run, h |",
        "|---|---|---|---|---|",
    ]
    for name, stage, r in rows:
        epochs = ", ".join(f"{x:.1f}" for x in r.get("epoch_s") or []) or "—"
        run = r.get("paper_run") or {}
        workers = r.get("workers", auth.get("workers") if stage == "train_duts_authors" else None)
        lines.append(
            f"| {name} | {fmt(workers)} | {epochs} "
            f"| {_cell(report, stage, r.get('images_per_s'))} | {fmt(run.get('hours'), 2)} |"
        )
    how = (ours.get("paper_run") or {}).get("how")
    lines += [
        "",
        f"- Ours against the network alone: {fmt(ours_all.get('end_to_end_vs_network'), 2)}x "
        f"({'data-bound' if ours_all.get('data_bound') else 'not data-bound'}); ours against "
        f"the authors' loop: **{fmt(auth.get('speedup'), 2)}x** (goal >= 1.3x).",
        f"- The 32-epoch paper run: {how or '—'} (set-up {fmt(ours.get('setup_s'), 0)} s).",
        "",
        f"Batch-1 inference at {fmt(fast.get('size'))} px ({fmt(fast.get('weights'))}):",
        "",
        "| mode | FPS |",
        "|---|---|",
        f"| strict fp32, eager (the authors' test scripts, warmed up) "
        f"| {_cell(report, 'fps_fast', fast.get('strict_fp32_fps'))} |",
        f"| previous default (BatchNorm folded, channels-last) "
        f"| {_cell(report, 'fps_fast', fast.get('previous_default_fps'))} |",
        f"| CUDA graph, no TF32 | {_cell(report, 'fps_fast', fast.get('graph_no_tf32_fps'))} |",
        f"| fast mode, checked ({fmt(fast.get('fast_state'))}; predict/eval default on a GPU) "
        f"| {_cell(report, 'fps_fast', fast.get('fast_fps'))} |",
        "",
        f"Fast maps against strict fp32 over {fmt(fast.get('photos'))} photos: at most "
        f"{fmt(fast.get('max_gray_levels_vs_fp32'))} gray levels (allowed 2); goal 500 FPS "
        f"{'met' if fast.get('goal_met') else 'not met'}.",
    ]
    return lines


def render_md(report: dict) -> str:
    """``gpu_check.md`` of a report (``gpu_check.json``'s content), finished or not."""
    if report["mode"].get("suite") == "paper":
        parts: tuple = (_heading, _paper, _stages)
    else:
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
