"""Screenshots of the banner for the README: `make screenshots` (writes docs/screenshots/).

The bundled demo site behind the real proxy, in Debian's Chromium, offline: every
third-party request is answered with a grey stub, never sent.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from playwright.async_api import Page, Route, async_playwright

from consentproxy import server
from consentproxy.config import load_config
from consentproxy.demo.origin import make_origin_app, serve_app
from consentproxy.engine import Engine
from consentproxy.scan import CHROMIUM_ARGS

DEMO = Path(__file__).resolve().parents[1] / "src" / "consentproxy" / "demo"
HOST = "legacy.test"
ARGS = [
    *CHROMIUM_ARGS,
    f"--host-resolver-rules=MAP {HOST} 127.0.0.1, MAP * ~NOTFOUND",
]
SIZES = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 375, "height": 740}}
STUB = "<body style='margin:0;background:#555;color:#fff;font:20px sans-serif'>third party</body>"


async def offline(route: Route) -> None:
    if route.request.url.startswith(f"http://{HOST}"):
        await route.continue_()
    else:
        await route.fulfill(body=STUB, content_type="text/html")


async def shoot(page: Page, out: Path, name: str) -> None:
    await page.wait_for_timeout(300)
    await page.screenshot(path=out / f"{name}.png")
    print(f"  {out / name}.png")


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    async with serve_app(make_origin_app(DEMO / "pages")) as origin_port:
        config = load_config(DEMO / "config.yaml").with_overrides(
            upstream=f"http://127.0.0.1:{origin_port}"
        )
        running = await server.start(
            Engine(config, [b"screenshots-secret-0123456789"]), "127.0.0.1", 0
        )
        base = f"http://{HOST}:{running.port}"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for lang, locale in (("en", "en-GB"), ("fr", "fr-FR")):
                for device, viewport in SIZES.items():
                    context = await browser.new_context(
                        base_url=base, viewport=viewport, locale=locale
                    )
                    await context.route("**/*", offline)
                    page = await context.new_page()
                    await page.goto("/occasions")
                    await shoot(page, out, f"first-layer-{lang}-{device}")
                    await page.click("[data-consent-action=customize]")
                    await page.locator(".cp-services summary").first.click()
                    await shoot(page, out, f"preferences-{lang}-{device}")
                    await page.click("[data-consent-action=reject-all]")
                    await page.locator(
                        "[data-consent-placeholder=youtube]"
                    ).scroll_into_view_if_needed()
                    await shoot(page, out, f"placeholder-{lang}-{device}")
                    await context.close()
            await browser.close()
        await running.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
