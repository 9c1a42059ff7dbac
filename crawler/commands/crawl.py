"""``scrapy crawl``, which also fails when the work after the crawl failed.

Scrapy's own command exits 1 only when the crawl could not start. A manual
``scrapy crawl news`` also runs dxmon's post-crawl processing
(:mod:`monitor.after_crawl`); when that fails, the crawl's archive is fine but no
alert went out, so the process says so on stderr and exits 1, for the shell or cron
that started it.
"""

from __future__ import annotations

import sys

from scrapy.commands.crawl import Command as ScrapyCrawl

from crawler.addon import DxmonAddon

EXIT_PROCESSING_FAILED = 1


class Command(ScrapyCrawl):
    def _create_crawler(self, spname):
        self._crawler = super()._create_crawler(spname)
        return self._crawler

    def run(self, args, opts) -> None:
        self._crawler = None
        super().run(args, opts)
        crawler = self._crawler
        for addon in crawler.addons.addons if crawler is not None else ():
            if isinstance(addon, DxmonAddon) and addon.context is not None:
                for failure in addon.context.failures:
                    print(f"dxmon: {failure}", file=sys.stderr, flush=True)
                    self.exitcode = self.exitcode or EXIT_PROCESSING_FAILED
