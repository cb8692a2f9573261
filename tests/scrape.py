"""Read a real /metrics endpoint into {(sample name, labels): value}."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]


class Scrape:
    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, Labels], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                self.samples[key] = sample.value

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def value(self, name: str, **labels: str) -> float:
        """Sum of every sample called ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(
            value
            for (sample_name, sample_labels), value in self.samples.items()
            if sample_name == name and wanted <= set(sample_labels)
        )

    def labels_of(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for sample_name, labels in self.samples if sample_name == name]


def scrape(metrics_url: str, timeout_s: float = 5.0) -> Scrape:
    response = httpx.get(metrics_url, timeout=timeout_s)
    response.raise_for_status()
    return Scrape(response.text)
