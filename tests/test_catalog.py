from consentproxy.catalog import builtin_services

REQUIRED = {"google-analytics", "google-tag-manager", "google-ads", "facebook-pixel",
            "facebook-social", "youtube", "vimeo", "google-maps", "twitter", "linkedin-insight",
            "tiktok-pixel", "hotjar", "instagram"}


def test_catalog_has_the_services_legacy_sites_load():
    assert REQUIRED <= set(builtin_services())


def test_every_builtin_service_can_match_something():
    for svc in builtin_services().values():
        assert svc.hosts or svc.cookies or svc.inline, svc.name
        assert svc.title and svc.privacy_url.startswith("https://"), svc.name


def test_youtube_covers_nocookie_and_ytimg():
    hosts = builtin_services()["youtube"].hosts
    assert "www.youtube-nocookie.com" in hosts and "*.ytimg.com" in hosts
