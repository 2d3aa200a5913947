"""Generate the synthetic speech + text emotion corpus of the `egs/mini` demo recipe.

Usage:
  python -m mer.bin.make_synthetic_corpus OUT_ROOT [--num-speakers N] [--utts-per-speaker M]
      [--seed S] [--audio-noise P] [--text-noise P] [--sample-rate SR] [--force]

Writes OUT_ROOT/wav/<spk>/<utt>.wav (16-bit PCM, mono) and the data dirs OUT_ROOT/{all,train,
valid,test} (wav.scp, text, utt2spk, spk2utt, utt2emo, utt2gender, utt2split, utt2dur, utt2dialog,
utt2turn, labels); the splits are speaker-disjoint, and each split's utterances form dialogues of
4-10 turns in which the emotion tends to persist from turn to turn. The same arguments give the
same files byte for byte; a rerun keeps the wavs already written (--force rewrites them). Prints
utterance counts per split and label.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from mer.data.corpora.synthetic import DEFAULT_AUDIO_NOISE, DEFAULT_TEXT_NOISE, generate, summary


def _probability(s: str) -> float:
    p = float(s)
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError(f"{s} is not a probability in [0, 1]")
    return p


def _positive(s: str) -> int:
    n = int(s)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{s} is not a positive integer")
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mer.bin.make_synthetic_corpus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_root", type=Path, help="output directory")
    parser.add_argument("--num-speakers", type=_positive, default=10,
                        help="speakers, alternately female and male; the last 20%% are test, the "
                             "20%% before them valid (default: %(default)s)")
    parser.add_argument("--utts-per-speaker", type=_positive, default=40,
                        help="utterances per speaker, the four emotions in turn (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--audio-noise", type=_probability, default=DEFAULT_AUDIO_NOISE,
                        help="probability that an utterance sounds like another emotion "
                             "(default: %(default)s)")
    parser.add_argument("--text-noise", type=_probability, default=DEFAULT_TEXT_NOISE,
                        help="probability that a transcript is neutral-worded or worded for "
                             "another emotion (default: %(default)s)")
    parser.add_argument("--sample-rate", type=_positive, default=16000,
                        help="sampling rate in Hz (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="rewrite wavs that already exist")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.num_speakers < 3:
        parser.error("--num-speakers must be at least 3 (train, valid and test are speaker-disjoint)")

    start = time.time()
    dirs = generate(args.out_root, num_speakers=args.num_speakers,
                    utts_per_speaker=args.utts_per_speaker, seed=args.seed,
                    audio_noise=args.audio_noise, text_noise=args.text_noise,
                    sample_rate=args.sample_rate, force=args.force)
    print(f"synthetic corpus in {args.out_root} ({time.time() - start:.1f} s): seed {args.seed}, "
          f"audio noise {args.audio_noise}, text noise {args.text_noise}")
    print(summary(dirs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
