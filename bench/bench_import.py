"""The import's parity target and the transformers engine's latency, on the shared speech (all clips).

    .venv/bin/python bench/bench_import.py [--manifest ../shared/data/speech/manifest.jsonl] [--limit N]

1. exports the embedded tiny.en to the transformers format and imports it back (`asr models export-hf`,
   `asr models import`), in a temporary folder;
2. the embedded model vs the imported one, both on the default engine (onnxruntime, int8): identical
   tokens and WER (target: >= 98 % and within 0.2 points);
3. the default engine vs the transformers-whisper engine on the exported checkpoint, float32 and the
   engine's automatic precision, clip by clip in turn in the same run: agreement, WER, latency p50/p95 on
   clips <= 8 s.

Prints JSON lines and a short table. Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr_service.engines import Engine, EngineOptions, create_engine
from asr_service.engines._model_files import resolve_model
from asr_service.models import check_engines, export_hf, import_checkpoint

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech" / "manifest.jsonl"


def compare(name: str, engines: tuple[Engine, Engine], manifest: Path, tokenizer: Path, limit: int | None) -> dict:
    for engine in engines:
        warm_up = getattr(engine, "warm_up", None)
        if warm_up is not None:
            warm_up()
    report = check_engines(engines, manifest, tokenizer_file=tokenizer, limit=limit)
    data = {"comparison": name, **report.to_json()}
    data.pop("differing")
    print(json.dumps(data), flush=True)
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--limit", type=int, help="only the first N clips")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        hf = export_hf(resolve_model("tiny.en").path, Path(folder) / "tiny.en-hf").path
        imported = import_checkpoint(hf, Path(folder) / "tiny.en-imported").path
        tokenizer = imported / "tokenizer.json"
        embedded = create_engine(EngineOptions(model="tiny.en"))
        served = create_engine(EngineOptions(model=str(imported)))
        rows.append(compare("embedded vs imported (default engine, int8)", (embedded, served), args.manifest,
                            tokenizer, args.limit))
        served.close()
        for compute_type in ("float32", "auto"):
            hf_engine = create_engine(EngineOptions(engine="transformers-whisper", model=str(hf),
                                                    compute_type=compute_type))
            rows.append(compare(f"default engine vs transformers-whisper ({compute_type})", (embedded, hf_engine),
                                args.manifest, tokenizer, args.limit))
            hf_engine.close()
        embedded.close()
    print()
    print(f"{'comparison':<52} {'clips':>5} {'same':>7} {'edit':>7} {'WER a/b':>13} {'p50 a/b <=8s':>15} "
          f"{'p95 a/b <=8s':>15}")
    for row in rows:
        a, b = row["engines"]
        print(f"{row['comparison']:<52} {row['clips']:>5} {100 * row['token_agreement']:>6.1f}% "
              f"{100 * row['token_edit_agreement']:>6.2f}% {a['wer']:>6.2f}/{b['wer']:<6.2f} "
              f"{a['latency_ms']['p50_clips_le_8s']:>7}/{b['latency_ms']['p50_clips_le_8s']:<7} "
              f"{a['latency_ms']['p95_clips_le_8s']:>7}/{b['latency_ms']['p95_clips_le_8s']:<7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
