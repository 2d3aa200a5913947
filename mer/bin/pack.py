"""Pack a trained model into one archive that runs without the recipe (mer.bin.recognize, mer.recognizer.Recognizer).

Usage:
  python -m mer.bin.pack [--fold K] [--dumpdir DIR] [--train-dir DIR ...] EXP_DIR OUT.tar.gz

EXP_DIR: a fold dir (exp/<protocol>/<config tag>/fold1, holding best.pt) or a config dir with its
fold dirs below it (one fold, or choose with --fold). The dumps the model was trained on are found
where the decode dirs recorded them (relative to the recipe dir), else in the recipe's dump/;
--dumpdir names the dump dir instead.

A model with a speaker-normalised input (`cmvn: speaker`) also keeps the training speakers'
statistics (mean of the per-speaker means and standard deviations, mer.deploy_cmvn), which a
recording given without its speaker is normalised with; they are computed from the training dumps
over the fold's train dir (and valid dir when fitted on train+valid), found as
data/<protocol>/fold<k>/ of the recipe, or named with --train-dir. Such a model should be run
with its recordings' speakers (mer-recognize --speaker / --utt2spk); the output says so.

The archive (tar.gz, written atomically) holds the resolved config.yaml, the best weights
(model.pt, loadable with torch.load(..., weights_only=True)), classes, inputs.json (how each input is
computed: the feature settings of its dump, the transcription settings or the source of its text),
pack.json (git commit, source, protocol, checkpoint), the scores of every decode dir with their
meta.json and the fold aggregate, and a README.md saying all of it.
"""
from __future__ import annotations

import argparse
import sys

from mer.deploy_cmvn import missing_training_stats, speaker_hint
from mer.packing import PackError, bundle_from_exp, input_words, write_archive


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fold", type=int, help="which fold of a config dir with several")
    p.add_argument("--dumpdir", help="the recipe's dump dir (default: found from the experiment)")
    p.add_argument("--train-dir", action="append", help="a training data dir of the fold (repeatable), for "
                   "the statistics of a speaker-normalised model (default: found in the recipe)")
    p.add_argument("exp_dir")
    p.add_argument("out", help="the archive to write, e.g. model.tar.gz")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    try:
        bundle = bundle_from_exp(args.exp_dir, args.fold, args.dumpdir, args.train_dir)
        missing = missing_training_stats(bundle.inputs)
        if missing:
            raise PackError(f"input {', '.join(missing)} is normalised per speaker (cmvn: speaker) and the "
                            f"fold's training data dir was not found to compute the statistics a recording "
                            f"without its speaker is normalised with; pass --train-dir DIR")
    except (PackError, ValueError, FileNotFoundError) as e:
        print(f"pack: error: {e}", file=sys.stderr)
        return 2
    out = write_archive(bundle, args.out)
    print(f"pack: wrote {out} ({bundle.info['system']}, {bundle.info['config']}, epoch "
          f"{bundle.info.get('checkpoint_epoch')})", file=sys.stderr)
    for name, rec in bundle.inputs.items():
        print(f"pack:   input {name}: {input_words(rec)}", file=sys.stderr)
    hint = speaker_hint(bundle.inputs)
    if hint:
        print(f"pack: {hint}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
