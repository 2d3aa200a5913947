"""One trainer for every system: epochs, validation, best-checkpoint selection, resume.

Per epoch it writes `checkpoint.pt` (everything needed to resume, atomically) and, when the
validation metric improves, `best.pt`. Re-running a training stage whose run was interrupted
resumes from `checkpoint.pt` and ends where an uninterrupted run would: the batch order depends
only on (seed, epoch) and the random-number states are restored.
"""
from __future__ import annotations

import logging
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mer.checkpoint import load_checkpoint, pack_rng, save_checkpoint, unpack_rng
from mer.train.config import lower_is_better
from mer.inference import amp_dtype, forward, predict
from mer.inputs import BucketBatchSampler, EmotionDataset, collate
from mer.train.dist import DistContext
from mer.utils.fileio import write_json_atomic

log = logging.getLogger("mer.train")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)




def build_optimizer(model: nn.Module, conf: dict) -> torch.optim.Optimizer:
    """Adam(W) with two parameter groups: the model's own layers, and the pretrained encoders it trains
    (`encoder_lr`, `encoder_freeze_steps`). Each group remembers its base learning rate."""
    if conf["name"] not in ("adam", "adamw"):
        raise ValueError(f"optim.name must be adam or adamw, got '{conf['name']}'")
    encoder_names = set(model.encoder_parameter_names()) if hasattr(model, "encoder_parameter_names") else set()
    enc, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (enc if name in encoder_names else rest).append(p)
    enc_lr = conf.get("encoder_lr") if conf.get("encoder_lr") is not None else conf["lr"]
    groups = [{"params": rest, "base_lr": conf["lr"], "encoder": False}]
    if enc:
        groups.append({"params": enc, "lr": enc_lr, "base_lr": enc_lr, "encoder": True})
    cls = torch.optim.Adam if conf["name"] == "adam" else torch.optim.AdamW
    return cls(groups, lr=conf["lr"], betas=tuple(conf["betas"]), eps=conf["eps"],
               weight_decay=conf["weight_decay"])


class LRSchedule:
    """Learning rate of each parameter group as a function of (optimiser step, epoch): a per-epoch
    step decay or cosine, a per-step time-based decay, a linear warm-up over the first steps, and
    encoders held at zero while frozen."""

    def __init__(self, sched: dict | None, encoder_freeze_steps: int = 0, epochs: int = 1):
        sched = sched or {}
        self.name = sched.get("name", "none") or "none"
        if self.name not in ("steplr", "cosine", "time_decay", "none"):
            raise ValueError(f"scheduler.name must be steplr, cosine, time_decay or none, got '{self.name}'")
        self.epochs = max(1, int(epochs))
        self.step_size, self.gamma = sched.get("step_size", 30), sched.get("gamma", 0.1)
        self.decay = float(sched.get("decay") or 0.0)
        self.warmup = int(sched.get("warmup_steps") or 0)
        self.freeze = int(encoder_freeze_steps or 0)

    def factor(self, step: int, epoch: int, encoder: bool) -> float:
        if encoder and step < self.freeze:
            return 0.0
        if self.name == "steplr":
            f = self.gamma ** ((epoch - 1) // self.step_size)
        elif self.name == "cosine":  # epoch 1 at the full rate, the last at a small one, not 0
            f = 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / self.epochs))
        elif self.name == "time_decay":  # Keras' `decay` argument: lr0 / (1 + decay * iterations)
            f = 1.0 / (1.0 + self.decay * step)
        else:
            f = 1.0
        if self.warmup:
            f *= min(1.0, (step + 1) / self.warmup)
        return f

    def apply(self, optimizer, step: int, epoch: int) -> None:
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * self.factor(step, epoch, group.get("encoder", False))


def evaluate(model, dataset, device, batch_size, labels: list[str], amp=None) -> dict:
    """Validation loss (the model's own) and metrics over the utterances inside the label set."""
    from mer.models.abs_model import ModelOutput
    from mer.metrics import score, selectable_metrics

    p = predict(model, dataset, device, batch_size, amp)
    keep = p["labels"] >= 0
    logits, y = p["logits"][keep], p["labels"][keep]
    loss = model.loss(ModelOutput(logits=logits), y).mean().item()
    refs = [labels[i] for i in y.tolist()]
    preds = [labels[i] for i in logits.argmax(-1).tolist()]
    return {"loss": loss, **score(refs, preds, labels=labels, metrics=selectable_metrics())}


class TrainingDiverged(RuntimeError):
    """A non-finite loss: training stops, the last good checkpoint stays."""


class Trainer:
    def __init__(self, conf: dict, exp_dir: str | Path, model: nn.Module, train_set: EmotionDataset,
                 valid_set: EmotionDataset, labels: list[str], ctx: DistContext):
        self.conf, self.tconf = conf, conf["train"]
        self.exp_dir = Path(exp_dir)
        self.ctx = ctx
        self.labels = labels
        self.train_set, self.valid_set = train_set, valid_set
        # fit_on train+valid, or a validation set drawn from the training data (a final model trained
        # on every speaker): its scores are no held-out scores, and the log says so
        self.valid_in_train = (self.tconf.get("fit_on") == "train+valid"
                               or bool(valid_set.utts) and set(valid_set.utts) <= set(train_set.utts))
        self.model = model.to(ctx.device)
        self.ddp = None
        if ctx.distributed:
            trains_encoder = bool(self.model.encoder_parameter_names())
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                find_unused_parameters=trains_encoder)  # a transformers encoder has an unused pooler
        self.optimizer = build_optimizer(self.model, conf["optim"])
        self.schedule = LRSchedule(conf.get("scheduler"), conf["optim"].get("encoder_freeze_steps", 0),
                                   conf["train"]["epochs"])
        self.accum = int(self.tconf.get("accum_grad") or 1)
        self.step = 0  # optimiser steps so far
        self.bad_steps = 0  # batches skipped for a non-finite loss
        self._check_valid_classes()
        self.amp = amp_dtype(self.tconf["amp"], ctx.device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
        self.sampler = BucketBatchSampler(
            [train_set.length(i) for i in range(len(train_set))], self.tconf["batch_size"], shuffle=True,
            bucketing=self.tconf["bucketing"], seed=self.tconf["seed"], rank=ctx.rank,
            world_size=ctx.world_size, max_frames=self.tconf["max_frames"],
            sizes=[len(s) for s in train_set.samples] if self.tconf.get("batch_counts") == "utterances" else None)
        self.metric = self.tconf["best_metric"]
        self.start_epoch, self.best, self.bad_epochs, self.history, self.stopped = 1, None, 0, [], False
        self.tb = None

    # ------------------------------------------------------------------ checkpoints
    @property
    def ckpt_path(self) -> Path:
        return self.exp_dir / "checkpoint.pt"

    def _improved(self, value: float) -> bool:
        if self.best is None or self.metric == "last":
            return True
        return value < self.best["value"] if lower_is_better(self.metric) else value > self.best["value"]

    def save_checkpoint(self, epoch: int) -> None:
        state = {"epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "step": self.step,
                 "scaler": self.scaler.state_dict() if self.scaler else None, "best": self.best,
                 "bad_epochs": self.bad_epochs, "history": self.history, "stopped": self.stopped,
                 "rng": pack_rng()}
        save_checkpoint(state, self.ckpt_path)
        keep = self.tconf["keep_epoch_checkpoints"]
        if keep:
            save_checkpoint({"epoch": epoch, "model": self.model.state_dict()}, self.exp_dir / f"epoch{epoch}.pt")
            old = self.exp_dir / f"epoch{epoch - keep}.pt"
            if old.exists():
                old.unlink()

    def maybe_resume(self) -> None:
        if not self.ckpt_path.is_file():
            return
        state = load_checkpoint(self.ckpt_path, self.ctx.device, purpose="resume",
                                remedy="restore it, or remove it to train from the start")
        self.model.load_state_dict(state["model"])
        base_lrs = [g["base_lr"] for g in self.optimizer.param_groups]
        self.optimizer.load_state_dict(state["optimizer"])
        for group, base_lr in zip(self.optimizer.param_groups, base_lrs):
            group["base_lr"] = base_lr  # the config's learning rate holds, not the checkpoint's
        self.step = state.get("step", 0)
        if self.scaler and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.best, self.bad_epochs = state["best"], state["bad_epochs"]
        self.history, self.stopped = state["history"], state["stopped"]
        unpack_rng(state["rng"])
        self.start_epoch = state["epoch"] + 1
        log.info("resuming from epoch %d (%s)", state["epoch"], self.ckpt_path)

    # ------------------------------------------------------------------ loop
    def train_epoch(self, epoch: int) -> dict:
        model = self.ddp or self.model
        model.train()
        self.sampler.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(self.train_set, batch_sampler=self.sampler, collate_fn=collate,
                                             num_workers=self.tconf["num_workers"])
        total_loss, total_n, correct, t0 = 0.0, 0.0, 0.0, time.time()
        num_batches = len(loader)
        interval, last_log = float(self.tconf.get("log_interval_seconds") or 0), time.time()
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(loader):
            weights = batch["weights"].float().to(self.ctx.device)
            labels = batch["labels"].to(self.ctx.device)
            # Mean over the *global* batch: each rank's summed loss is scaled so that DDP's
            # gradient averaging gives exactly the one-process gradient; accumulated batches
            # each count 1/accum of an optimiser step.
            n_global = max(self.ctx.all_sum(float(weights.sum())), 1e-9)
            out = forward(model, batch, self.ctx.device, self.amp)
            per_utt = self.model.loss(out, labels).float()
            loss = (per_utt * weights).sum() * self.ctx.world_size / n_global / self.accum
            if self.ctx.all_sum(float(not torch.isfinite(loss))):
                self._bad_step(epoch, i, float(loss), batch["utts"])
                continue
            if self.scaler:
                self.scaler.scale(loss).backward()
            else:
                loss.backward()
            total_loss += float((per_utt.detach() * weights).sum())
            total_n += float(weights.sum())
            correct += float(((out.logits.argmax(-1) == labels).float() * weights).sum())
            if interval and self.ctx.is_main and time.time() - last_log >= interval:
                last_log = time.time()
                elapsed = last_log - t0
                log.info("epoch %d: batch %d/%d, %.1f utt/s, train loss so far %.4f, about %.0f s left", epoch,
                         i + 1, num_batches, total_n / elapsed * self.ctx.world_size,
                         total_loss / max(total_n, 1), elapsed / (i + 1) * (num_batches - i - 1))
            if (i + 1) % self.accum and i + 1 < num_batches:
                continue
            self.schedule.apply(self.optimizer, self.step, epoch)
            if self.scaler:
                self.scaler.unscale_(self.optimizer)
            if self.tconf["grad_clip"]:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.tconf["grad_clip"])
            if self.scaler:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
        elapsed = time.time() - t0
        total_loss, total_n, correct = (self.ctx.all_sum(x) for x in (total_loss, total_n, correct))
        return {"loss": total_loss / max(total_n, 1), "acc": correct / max(total_n, 1),
                "seconds": elapsed, "utts_per_second": total_n / max(elapsed, 1e-9)}

    def _bad_step(self, epoch: int, index: int, loss: float, utts: list[str]) -> None:
        """Skip a batch whose loss is not finite, up to train.max_bad_steps, then stop."""
        self.optimizer.zero_grad(set_to_none=True)
        self.bad_steps += 1
        where = (f"epoch {epoch}, batch {index + 1} (optimiser step {self.step}), loss {loss}, "
                 f"utterances {', '.join(utts[:3])}{' ...' if len(utts) > 3 else ''}")
        if self.bad_steps > int(self.tconf.get("max_bad_steps") or 0):
            raise TrainingDiverged(f"non-finite training loss at {where}; {self.exp_dir}/checkpoint.pt keeps the "
                                   f"last good epoch. Lower optim.lr, set train.grad_clip, or allow skipped "
                                   f"batches with train.max_bad_steps")
        log.warning("skipping a batch with a non-finite loss (%d of at most %s): %s", self.bad_steps,
                    self.tconf.get("max_bad_steps"), where)

    def _check_valid_classes(self) -> None:
        if not self.ctx.is_main:
            return
        present = {self.labels[i] for i in set(self.valid_set.label.values()) if i >= 0}
        missing = [c for c in self.labels if c not in present]
        if missing:
            log.warning("the validation set %s has no utterance of class(es) %s: the checkpoint is chosen "
                        "on %d of %d classes", self.valid_set.data_dir, missing, len(present), len(self.labels))

    def fit(self) -> dict:
        tc = self.tconf
        self.maybe_resume()
        if self.ctx.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.exp_dir / "tensorboard"), purge_step=self.start_epoch)
        if self.stopped or self.start_epoch > tc["epochs"]:
            log.info("training already finished (epoch %d, best %s)", self.start_epoch - 1, self.best)
        if self.ctx.is_main and self.valid_in_train:
            log.info("%s: the validation set %s is inside the training data; its scores below are not held "
                     "out, and the model kept is the last epoch's",
                     "fit_on train+valid" if tc.get("fit_on") == "train+valid" else "every validation utterance "
                     "is also a training utterance", self.valid_set.data_dir)
        for epoch in range(self.start_epoch, tc["epochs"] + 1):
            if self.stopped:
                break
            tr = self.train_epoch(epoch)
            lr = self.optimizer.param_groups[0]["lr"]
            record = {"epoch": epoch, "lr": lr, **{f"train_{k}": v for k, v in tr.items()}}
            if self.ctx.is_main:
                va = evaluate(self.model, self.valid_set, self.ctx.device, max(tc["batch_size"], 8),
                              self.labels, self.amp)
                record.update({f"valid_{k}": v for k, v in va.items()})
                value = va["ua"] if self.metric == "last" else va[self.metric]
                if self._improved(value):
                    self.best = {"metric": self.metric, "value": value, "epoch": epoch}
                    self.bad_epochs = 0
                    save_checkpoint({"epoch": epoch, "model": self.model.state_dict(), "metric": self.metric,
                                 "value": value}, self.exp_dir / "best.pt")
                else:
                    self.bad_epochs += 1
                patience = tc["early_stopping_patience"]
                self.stopped = bool(patience and self.bad_epochs >= patience)
                self.history.append(record)
                self.save_checkpoint(epoch)
                self._log_epoch(record)
                if self.stopped:
                    log.info("early stopping: no improvement of valid %s for %d epochs", self.metric, patience)
            self.stopped = self.ctx.broadcast(self.stopped)
            self.ctx.barrier()
        if self.ctx.is_main:
            write_json_atomic(self.exp_dir / "history.json", self.history)
            write_json_atomic(self.exp_dir / "train_summary.json", {
                "best": self.best, "epochs_run": len(self.history), "early_stopped": self.stopped,
                "world_size": self.ctx.world_size, "device": str(self.ctx.device),
                "amp": str(self.amp) if self.amp else None,
                "train_utts_per_second": float(np.mean([h["train_utts_per_second"] for h in self.history]))
                if self.history else None})
            if self.tb:
                self.tb.close()
        return {"best": self.best, "history": self.history}

    def _log_epoch(self, r: dict) -> None:
        # fit_on train+valid: the validation set is trained on, its scores are no held-out scores;
        # best_metric last chooses nothing on it, so no epoch is marked as the chosen one
        valid = "valid(in train)" if self.valid_in_train else "valid"
        chosen = self.metric != "last" and self.best and self.best["epoch"] == r["epoch"]
        log.info("epoch %d: lr %.3g train loss %.4f acc %.4f (%.1f utt/s) | %s loss %.4f wa %.4f ua %.4f "
                 "macro_f1 %.4f%s", r["epoch"], r["lr"], r["train_loss"], r["train_acc"],
                 r["train_utts_per_second"], valid, r["valid_loss"], r["valid_wa"], r["valid_ua"],
                 r["valid_macro_f1"], " *" if chosen else "")
        for k, v in r.items():
            if k != "epoch" and isinstance(v, (int, float)) and math.isfinite(v):
                self.tb.add_scalar(k.replace("_", "/", 1), v, r["epoch"])
        self.tb.flush()
