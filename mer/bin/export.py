"""Export a trained model to ONNX: the classifier over dumped features, checked with onnxruntime.

Usage:
  python -m mer.bin.export [--data-dir DIR --dumpdir DIR] MODEL OUT.onnx

MODEL: a pack (mer.bin.pack) or an experiment dir (as mer.bin.pack takes it, with --fold).
Writes OUT.onnx (atomically) and OUT.json beside it: input names, shapes with symbolic dims
(batch, frames_<input>), dtypes, outputs, classes, opset and each input's feature settings from
the pack, so a user knows what features to compute. Before writing, onnxruntime's posteriors are
compared with PyTorch's on other batch sizes and lengths than the traced example (random frames,
or with --data-dir the utterances of that data dir read from the recipe's dumps); a difference
over 1e-4 writes nothing. Needs `pip install onnx onnxruntime`.

Only inputs read from dumps export; a model with a raw text or waveform input (an encoder inside
the model) is refused, and --with-encoders is not supported yet.
"""
from __future__ import annotations

import argparse
import sys

from mer.export import OPSET, ExportError, dataset_examples, export_onnx, require_onnx
from mer.packing import PackError
from mer.trained_model import load_trained_model


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fold", type=int, help="which fold of a config dir with several")
    p.add_argument("--dumpdir", help="the recipe's dump dir (the features of --data-dir; default: dump)")
    p.add_argument("--data-dir", help="check on this data dir's utterances (e.g. data/test) instead of random frames")
    p.add_argument("--batch-size", type=int, default=8, help="utterances per checked batch with --data-dir")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET})")
    p.add_argument("--with-encoders", action="store_true",
                   help="also export the encoders from waveform and token ids: not supported yet")
    p.add_argument("model", help="a pack (model.tar.gz) or an experiment dir")
    p.add_argument("out", help="the .onnx to write; its .json is written beside it")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    try:
        if args.with_encoders:
            raise ExportError("--with-encoders is not supported yet: the encoders' tokeniser and log-mel "
                              "front ends run in Python, outside the graph; export the classifier over dumped "
                              "features (without --with-encoders)")
        require_onnx()
        trained = load_trained_model(args.model, fold=args.fold, dumpdir=args.dumpdir)
        examples = (dataset_examples(trained, args.data_dir, args.dumpdir or "dump", args.batch_size)
                    if args.data_dir else None)
        out, meta = export_onnx(trained, args.out, examples, args.opset)
    except (ExportError, PackError, ValueError, FileNotFoundError) as e:
        print(f"export: error: {e}", file=sys.stderr)
        return 2
    check = meta["check"]
    print(f"export: wrote {out} and {out.with_suffix('.json')} ({meta['system']}, opset {meta['opset']}, "
          f"inputs {', '.join(t['name'] for t in meta['inputs'])})", file=sys.stderr)
    print(f"export: onnxruntime vs PyTorch posteriors: max abs diff {check['max_abs_diff']:.2e} over "
          f"{check['utterances']} utterances in {check['batches']} batches "
          f"({'data dir ' + args.data_dir if args.data_dir else 'random frames'}; tolerance {check['tolerance']:g})",
          file=sys.stderr)
    if meta["one_utterance_per_run"]:
        print(f"export: one utterance per run: {meta['why_one_utterance']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
