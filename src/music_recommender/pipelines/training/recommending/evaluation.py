"""The holdout's verdict on each model: accuracy, what the lists are made of, whom they serve.

``evaluate_ranking`` (nodes.py) ranks once per model and hands the lists here: accuracy per
listener (``pmf.ranking.per_user_metrics``), the beyond-accuracy metrics of
``pmf.beyond_accuracy``, quality per listener group (thirds by mainstreaminess and by
activity), and the accuracy / long-tail trade-off of popularity-penalised lists.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from music_recommender.pmf.beyond_accuracy import (
    GROUPS,
    Catalogue,
    average_popularity,
    list_metrics,
    long_tail_share,
    mainstreaminess,
    thirds,
)
from music_recommender.pmf.ranking import HoldoutTask, Scorer, per_user_metrics, summary

Ranked = tuple[np.ndarray, np.ndarray]  # (listener rows, their top-k artist rows)
GROUP_METRICS = ("ndcg", "recall")


def judge(task: HoldoutTask, ranked: Ranked, catalogue: Catalogue, k: int) -> dict[str, Any]:
    """Accuracy and beyond-accuracy metrics of one model's lists."""
    everyone, lists = ranked
    per_user = per_user_metrics(lists, task.relevant()[everyone], k)
    return summary(per_user, lists, task.n_items) | list_metrics(lists, catalogue)


def listener_groups(
    task: HoldoutTask, everyone: np.ndarray, catalogue: Catalogue
) -> dict[str, np.ndarray]:
    """Each ranked listener's third by mainstreaminess and by activity (artists played)."""
    taste = mainstreaminess(task.users, task.items, task.n_users, catalogue.listeners)[everyone]
    activity = np.bincount(task.users, minlength=task.n_users)[everyone].astype(float)
    return {"mainstreaminess": thirds(taste), "activity": thirds(activity)}


def group_quality(
    task: HoldoutTask, ranked: dict[str, Ranked], catalogue: Catalogue, k: int
) -> dict[str, Any]:
    """Per group and model: NDCG@k, recall@k and ARP; per group, the ARP of what they play."""
    everyone = next(iter(ranked.values()))[0]
    labels = listener_groups(task, everyone, catalogue)
    relevant = task.relevant()[everyone]
    played = mainstreaminess(task.users, task.items, task.n_users, catalogue.listeners)[everyone]
    per_model = {name: per_user_metrics(lists, relevant, k) for name, (_, lists) in ranked.items()}
    out: dict[str, Any] = {}
    for split, label in labels.items():
        out[split] = {}
        for group in GROUPS:
            members = label == group
            cell: dict[str, Any] = {
                "listeners": int(members.sum()),
                "played_arp": float(np.nanmean(played[members])) if members.any() else None,
            }
            for name, (_, lists) in ranked.items():
                scored = members[per_model[name]["rows"]]
                cell[name] = {
                    f"{m}@{k}": float(per_model[name][f"{m}@{k}"][scored].mean())
                    if scored.any()
                    else None
                    for m in GROUP_METRICS
                } | {
                    "arp": average_popularity(lists[members], catalogue.listeners)
                    if members.any()
                    else None
                }
            out[split][group] = cell
    return out


def tradeoff(
    task: HoldoutTask,
    scorers: dict[float, Scorer],
    catalogue: Catalogue,
    k: int,
    budget_mb: float,
    users: np.ndarray | None,
) -> dict[str, Any]:
    """NDCG@k, long-tail share, coverage and ARP of the lists at each popularity penalty."""
    out = {}
    for penalty, scorer in scorers.items():
        everyone, lists = task.rank(scorer, k, budget_mb, users)
        metrics = summary(
            per_user_metrics(lists, task.relevant()[everyone], k), lists, task.n_items
        )
        out[f"lambda_{penalty:g}"] = {
            "penalty": penalty,
            f"ndcg@{k}": metrics[f"ndcg@{k}"],
            "aplt": long_tail_share(lists, catalogue.tail),
            "coverage": metrics["coverage"],
            "arp": average_popularity(lists, catalogue.listeners),
        }
    return out


def worst_served(groups: dict[str, Any], model: str, k: int) -> dict[str, Any]:
    """Per split, the group whose NDCG@k is lowest under ``model`` and its gap to the best."""
    out = {}
    for split, cells in groups.items():
        scores = {
            g: c[model][f"ndcg@{k}"] for g, c in cells.items() if c[model][f"ndcg@{k}"] is not None
        }
        if not scores:
            continue
        worst, best = min(scores, key=scores.get), max(scores, key=scores.get)
        out[split] = {
            "group": worst,
            f"ndcg@{k}": scores[worst],
            "best_group": best,
            "gap": 1 - scores[worst] / scores[best] if scores[best] else None,
        }
    return out
