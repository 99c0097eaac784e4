"""Tracker evasion through parser differentials: each page hides a tracker from a naive
scanner; the standard's parser (html5lib, see oracle.py) must find it live in the page and
dead in the proxy's output, with every other element, text and comment unchanged."""

from __future__ import annotations

import pytest

from consentproxy.consent import NO_DECISION, ConsentState
from consentproxy.rewrite.neutralise import Neutraliser
from consentproxy.rewrite.scanner import SKIPS, HtmlRewriter
from tests.adversarial.oracle import BANNER, MARK, POLICY, events, live_trackers, rewrite

GA = "https://www.google-analytics.com/analytics.js"
PIXEL = "https://www.facebook.com/tr?id=1&ev=PageView"
ALL = ConsentState(True, frozenset({"analytics", "advertising", "social", "marketing"}))

# Attack name -> a page that loads a tracker in a browser unless the proxy neutralises it.
ATTACKS = {
    "uppercase_tag_name": f"<ScRiPt SrC={GA}></sCrIpT>",
    "unquoted_src": f"<script src={GA}></script>",
    "slash_as_attribute_separator": f"<script/src={GA}></script>",
    "newline_and_tab_separators": f"<script\n\tsrc\n=\n{GA}\n></script>",
    "formfeed_separator": f"<script\x0csrc={GA}></script>",
    "duplicate_src_tracker_first": f"<script src={GA} src=/local.js></script>",
    "duplicate_src_uppercase_first": f"<img SRC={PIXEL} src=/x.png>",
    "entity_encoded_slashes": "<script src=https:&#x2F;&#x2F;www.google-analytics.com/a.js></script>",
    "named_entity_slashes": "<script src='https:&sol;&sol;www.google-analytics.com/a.js'></script>",
    "decimal_entities_without_semicolon": "<img src=https:&#47&#47www.facebook.com/tr>",
    "entity_encoded_host": "<img src='https://www&period;facebook&#46;com/tr'>",
    "backslashes_for_slashes": r"<script src='https:\\www.google-analytics.com\a.js'></script>",
    "scheme_without_slashes": "<script src='http:www.google-analytics.com/a.js'></script>",
    "protocol_relative": "<script src=//www.google-analytics.com/a.js></script>",
    "uppercase_host": "<script src=//WWW.GOOGLE-ANALYTICS.COM/a.js></script>",
    "userinfo_looks_first_party": "<script src='https://shop.example@www.google-analytics.com/a.js'>"
    "</script>",
    "port_and_trailing_dot": "<script src='https://www.google-analytics.com.:443/a.js'></script>",
    "percent_encoded_host": "<script src='https://www%2Egoogle-analytics%2ecom/a.js'></script>",
    "tab_inside_host": "<script src='https://www.google-ana\tlytics.com/a.js'></script>",
    "fullwidth_dot_in_host": "<script src='https://www\uff0egoogle-analytics\u3002com/a.js'></script>",
    "leading_whitespace_in_url": f"<script src='  \n{GA}'></script>",
    "script_type_module": f"<script type=module src={GA}></script>",
    "script_type_with_spaces": f"<script type=' Text/JavaScript ' src={GA}></script>",
    "svg_script_href": f"<svg><script href='{GA}'></script></svg>",
    "svg_script_xlink_href": f"<svg><script xlink:href='{GA}'></script></svg>",
    "svg_image_pixel": f"<svg><image href='{PIXEL}'/></svg>",
    "svg_feimage_pixel": f"<svg><filter><feImage href='{PIXEL}'/></filter></svg>",
    "math_script": f"<math><mi><script src={GA}></script></mi></math>",
    "noscript_pixel": f"<noscript><img height=1 width=1 src='{PIXEL}'></noscript>",
    "script_after_abrupt_comment": f"<!--><script src={GA}></script>",
    "script_after_three_dash_comment": f"<!---><script src={GA}></script>",
    "script_after_bang_comment_end": f"<!-- x --!><script src={GA}></script>",
    "script_after_cdata_in_html": f"<![CDATA[ ]]><script src={GA}></script>",
    "script_after_cdata_with_gt": f"<![CDATA[ a>b ]]><script src={GA}></script>",
    "script_after_xmp": f"<xmp><script src=/x.js></xmp><script src={GA}></script>",
    "script_after_textarea_end_with_space": f"<textarea></textarea ><script src={GA}></script>",
    "script_after_comment_lookalike_in_script": f"<script>var a='<!--';</script><script src={GA}></script>",
    "script_after_escaped_script_in_script": f"<script><!--<script></script>--></script><script src={GA}></script>",
    "iframe_srcdoc_entity_encoded": "<iframe srcdoc='&lt;script src=&quot;https://www.google-"
    "analytics.com/a.js&quot;&gt;&lt;/script&gt;'></iframe>",
    "iframe_data_url": f"<iframe src='data:text/html,<script src={GA}></script>'></iframe>",
    "iframe_data_url_base64": "<iframe src='data:text/html;base64,PHNjcmlwdCBzcmM9Ly93d3cuZ29vZ2"
    "xlLWFuYWx5dGljcy5jb20vYS5qcz48L3NjcmlwdD4='></iframe>",
    "iframe_javascript_url": f"<iframe src=\"javascript:'<script src={GA}></script>'\"></iframe>",
    "meta_refresh_to_tracker": f"<meta http-equiv=refresh content='0; url={PIXEL}'>",
    "meta_refresh_quoted_url": f"<meta http-equiv=Refresh content=\"5;URL='{PIXEL}'\">",
    "meta_set_cookie_tracking_cookie": "<meta http-equiv=Set-Cookie content='_fbp=fb.1.2.3; Path=/; Domain=facebook.com'>",
    "base_href_to_tracker": "<base href='https://www.google-analytics.com/'>"
    "<script src=analytics.js></script>",
    "link_rel_import": "<link rel=import href='https://www.google-analytics.com/a.html'>",
    "link_rel_modulepreload": f"<link rel=modulepreload href={GA}>",
    "link_rel_preload_imagesrcset": f"<link rel=preload as=image imagesrcset='{PIXEL} 2x'>",
    "img_srcset_second_candidate": f"<img srcset='/a.png 1x, {PIXEL} 2x'>",
    "picture_source_srcset": f"<picture><source srcset='{PIXEL}'><img src=/a.png></picture>",
    "video_poster": f"<video poster='{PIXEL}'></video>",
    "video_source_src": "<video><source src='https://www.youtube.com/v.mp4'></video>",
    "input_type_image": f"<input type=image src='{PIXEL}'>",
    "img_lowsrc": f"<img lowsrc='{PIXEL}'>",
    "object_data": "<object data='https://www.youtube.com/v/x'></object>",
    "embed_src": "<embed src='https://www.youtube.com/v/x'>",
    "frameset_frame": "<frameset><frame src='https://www.youtube.com/embed/x'></frameset>",
    "body_background": f"<body background='{PIXEL}'>",
    "table_background": f"<table background='{PIXEL}'><tr><td>x</td></tr></table>",
    "table_cell_background": f"<table><tr><td background='{PIXEL}'>x</td></tr></table>",
    "table_header_cell_background": f"<table><tr><TH BACKGROUND={PIXEL}>x</th></tr></table>",
    "a_ping_hyperlink_auditing": f"<a href=/next ping='/local {PIXEL}'>next</a>",
    "area_ping": f"<map name=m><area href=/x ping={PIXEL}></map>",
    "inline_loader_script": "<script>var s=document.createElement('script');"
    "s.src='//www.google-analytics.com/a.js';</script>",
    "inline_script_json_escaped_url": "<script>new Image().src='https:\\/\\/www.facebook.com"
    "\\/tr?id=1';</script>",
    # CSS in <style>: every way CSS Syntax spells a URL load
    "style_import_url": "<style>@import url(https://www.google-analytics.com/x.css);</style>",
    "style_import_string": "<style>@import 'https://www.google-analytics.com/x.css';</style>",
    "style_import_uppercase": "<style>@IMPORT URL(//www.google-analytics.com/x.css)</style>",
    "style_import_escaped_keyword": "<style>@\\69mport '//www.google-analytics.com/x.css'</style>",
    "style_background_url": f"<style>body{{background:url({PIXEL})}}</style>",
    "style_url_double_quoted_with_spaces": f'<style>p{{background:url(  "{PIXEL}"  )}}</style>',
    "style_url_hex_escaped_name": f"<style>p{{background:\\75 rl({PIXEL})}}</style>",
    "style_url_letter_escaped_name": f"<style>p{{background:u\\rl({PIXEL})}}</style>",
    "style_url_escaped_slashes": "<style>p{background:url(https:\\2f\\2fwww.facebook.com/tr)}</style>",
    "style_url_escaped_host_in_string": "<style>p{background:url('//www.f\\61 cebook.com/tr')}"
    "</style>",
    "style_hex_escape_eats_newline_in_string": "<style>@import '//www.google-analytics.com/"
    "\\61\n.css';</style>",
    "style_url_behind_escaped_control_character": f"<style>p{{x:url('\\1 {PIXEL}')}}</style>",
    "style_url_protocol_relative": "<style>p{background:url(//www.facebook.com/tr)}</style>",
    "style_url_backslashes": "<style>p{background:url('https:\\\\\\\\www.facebook.com/tr')}</style>",
    "style_url_after_comments": f"<style>/* a */p/**/{{/*b*/background:/**/url({PIXEL})}}</style>",
    "style_url_after_cdo": f"<style><!-- p{{background:url({PIXEL})}} --></style>",
    "style_url_uppercase_host": "<style>p{background:url(HTTPS://WWW.FACEBOOK.COM/tr)}</style>",
    "style_image_set": f"<style>p{{background:image-set('{PIXEL}' 1x, '/a.png' 2x)}}</style>",
    "style_webkit_image_set": f"<style>p{{background:-webkit-image-set(url({PIXEL}) 1x)}}</style>",
    "style_custom_property_into_image_set": f"<style>:root{{--bg:'{PIXEL}'}}"
    "p{background:image-set(var(--bg) 1x)}</style>",
    "style_font_face_src": "<style>@font-face{font-family:x;src:url(https://www.youtube.com/f.woff)"
    "}</style>",
    "style_second_url_of_two": f"<style>p{{background:url(/a.png),url({PIXEL})}}</style>",
    "style_unterminated_at_end_of_file": f"<style>p{{background:url({PIXEL}",
    "style_in_body_after_text": f"<p>x</p><style>p{{cursor:url({PIXEL}),auto}}</style><p>y</p>",
    # characters the URL parser drops from a host (UTS #46 maps them to nothing)
    "soft_hyphen_entity_in_host": "<script src='https://www.google-ana&shy;lytics.com/a.js'>"
    "</script>",
    "zero_width_space_entity_in_host": "<img src='https://www.face&#x200B;book.com/tr?id=1'>",
    "percent_encoded_soft_hyphen_in_host": "<script src='https://www.google-ana%C2%ADlytics.com"
    "/a.js'></script>",
    "raw_soft_hyphen_in_host": "<script src='https://www.google-ana\u00adlytics.com/a.js'>"
    "</script>",
    # documents in attributes: judged by rewriting them as pages are
    "srcdoc_double_encoded_entities": "<iframe srcdoc='<script src=https:&amp;#x2F;&amp;#x2F;"
    "www.google-analytics.com/a.js></script>'></iframe>",
    "srcdoc_nested_srcdoc": "<iframe srcdoc=\"<iframe srcdoc='&amp;lt;img src=https:&amp;amp;"
    "#x2F;&amp;amp;#x2F;www.facebook.com/tr&amp;gt;'></iframe>\"></iframe>",
    "srcdoc_style_attribute": "<iframe srcdoc=\"<p style='background:url(https:&amp;#x2F;"
    "&amp;#x2F;www.facebook.com/tr)'>x</p>\"></iframe>",
    "data_iframe_with_entity_encoded_url": "<iframe src='data:text/html,%3Cimg%20src%3D%22https"
    "%3A%26%23x2F%3B%26%23x2F%3Bwww.facebook.com%2Ftr%22"
    "%3E'></iframe>",
    # inline scripts that are lists of URLs to fetch
    "importmap_to_tracker": '<script type=importmap>{"imports": {"a": "https://www.google-'
    "analytics.com/a.js\"}}</script><script type=module>import 'a'</script>",
    "importmap_type_entity_encoded": '<script type=\'&#105;mportmap\'>{"imports": {"a": '
    '"https://www.google-analytics.com/a.js"}}</script>',
    "speculation_rules_prefetch": '<script type=speculationrules>{"prefetch": [{"urls": '
    '["https://www.facebook.com/tr?id=1"]}]}</script>',
}


@pytest.mark.parametrize("page", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_is_neutralised(page):
    data = page.encode()
    assert live_trackers(data), "the page must load a tracker without the proxy"
    out = rewrite(data)
    assert live_trackers(out) == []
    assert list(events(out)) == list(events(data)), "only the tracker tags may change"


@pytest.mark.parametrize("page", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_with_consent_passes_untouched(page):
    data = page.encode()
    assert rewrite(data, state=ALL) == data


@pytest.mark.parametrize(
    "name",
    [
        "uppercase_tag_name",
        "duplicate_src_tracker_first",
        "script_after_bang_comment_end",
        "svg_script_xlink_href",
        "iframe_srcdoc_entity_encoded",
        "meta_refresh_to_tracker",
        "script_after_escaped_script_in_script",
        "style_import_string",
        "style_url_hex_escaped_name",
    ],
)
def test_tag_split_across_chunks_at_every_offset(name):
    data = ("<p>before</p>" + ATTACKS[name] + "<p>after</p>").encode()
    whole = rewrite(data)
    assert whole != data
    for cut in range(1, len(data)):
        rw = HtmlRewriter(Neutraliser(POLICY, NO_DECISION, MARK), BANNER, False)
        assert rw.feed(data[:cut]) + rw.feed(data[cut:]) + rw.close() == whole, f"cut at {cut}"


# Attack name -> a page where the tracker only looks like a tag: the standard's parser makes
# it text, a comment or a dropped token, so it cannot load and the page must pass unchanged.
HARMLESS = {
    "script_inside_comment": f"<!-- <script src={GA}></script> -->",
    "script_inside_unterminated_comment": f"<!-- <script src={GA}></script>",
    "script_inside_nested_comment_opener": f"<!-- <!-- --> <p>x</p> <!-- <img src={PIXEL}> -->",
    "script_inside_bogus_comment": f"<?php <script src={GA}></script> ?>",
    "script_inside_xmp": f"<xmp><script src={GA}></script></xmp>",
    "script_inside_plaintext": f"<plaintext><script src={GA}></script></plaintext><p>",
    "script_inside_title": f"<title><script src={GA}></script></title>",
    "script_inside_textarea": f"<textarea><img src={PIXEL}></textarea>",
    "script_inside_noembed": f"<noembed><script src={GA}></script></noembed>",
    "script_inside_style": f"<style>/* <script src={GA}></script> */</style>",
    "tracker_url_in_json_ld": '<script type=application/ld+json>{"sameAs": '
    '"https://www.facebook.com/shop"}</script>',
    "tag_inside_iframe_rawtext": f"<iframe><img src={PIXEL}></iframe>",
    "unterminated_tag_at_end_of_file": f"<p>x</p><script src={GA}",
    "unterminated_attribute_value_at_end_of_file": f"<img src='{PIXEL}",
    "link_to_tracker_is_not_a_load": f"<a href='{PIXEL}'>facebook</a>",
    "lt_inside_tag_name": f"<x<script src={GA}></script>",  # one element named `x<script`
    "css_comment_splits_url": f"<style>p{{background:ur/**/l({PIXEL})}}</style>",
    "css_tracker_in_content_string": f"<style>p::after{{content:'{PIXEL}'}}</style>",
    "css_url_is_part_of_a_longer_name": f"<style>p{{background:-url({PIXEL})}}</style>",
    "css_url_inside_a_comment": f"<style>/* p{{background:url({PIXEL})}} */</style>",
}


# Inside <svg>/<math> (foreign content) the tree builder, not the tokenizer, decides:
# <xmp>, <style>, <title>, <noembed>... hold markup, an SVG <script> holds markup, and
# <![CDATA[ is a CDATA section; an HTML tag (<img>, <font color>, </p>...) breaks out
# and loads. The scanner follows it (rewrite/foreign.py).
FOREIGN = {
    "svg_xmp_is_not_raw_text": f"<svg><xmp><script href='{GA}'></script></xmp></svg>",
    "svg_style_holds_markup": f"<svg><style><script href='{GA}'></script></style></svg>",
    "svg_title_holds_markup": f"<svg><title></title><textarea><img src='{PIXEL}'></svg>",
    "svg_script_text_is_markup": f"<svg><script><img src='{PIXEL}'></script></svg>",
    "svg_inline_script_loader": "<svg><script>new Image().src='https://www.facebook.com/tr"
    "?id=1'</script></svg>",
    "html_script_inside_svg_script": "<svg><script><foreignObject><script>new Image().src="
    "'https://www.facebook.com/tr?id=1'</script></svg>",
    "math_style_holds_markup": f"<math><style><img src='{PIXEL}'></style></math>",
    "cdata_gt_hides_no_img": f"<svg><![CDATA[ > <!-- ]]><img src='{PIXEL}'> -->",
    "breakout_img_inside_svg_style": f"<svg><style><b></b><img src='{PIXEL}'></style>",
    "breakout_font_color": f"<svg><noembed><font color=red><img src='{PIXEL}'></noembed>",
    "breakout_end_p_then_style": f"<svg></p><style><!--</style><img src='{PIXEL}'>-->",
    "self_closing_svg_then_html_style_end": f"<svg/><style></style><img src='{PIXEL}'>",
    "svg_end_tag_closes": f"<svg><g></svg><xmp></xmp><img src='{PIXEL}'>",
    "foreign_object_closed_then_svg_style": f"<svg><foreignObject></foreignObject><style>"
    f"<img src='{PIXEL}'></style></svg>",
    "nested_svg_in_foreign_object": f"<svg><foreignObject><svg><style><img src='{PIXEL}'>"
    "</style></svg></foreignObject></svg>",
    "math_mglyph_is_foreign": f"<math><mi><mglyph><style><img src='{PIXEL}'></style>",
    "annotation_xml_without_html_encoding": f"<math><annotation-xml><style><img src='{PIXEL}'>",
    "annotation_xml_svg_is_foreign": f"<math><annotation-xml><svg><xmp><img src='{PIXEL}'>",
    "svg_style_import": f"<svg><style>@import url({GA});</style></svg>",
    "svg_style_import_unterminated": f"<svg><style>@import url({GA});",
    "svg_style_import_by_character_reference": f"<svg><style>@import u&#114;l({GA});</style>",
    "svg_style_import_in_cdata": f"<svg><style><![CDATA[@import url({GA});]]></style></svg>",
    "cdata_in_svg_nested_in_desc": f"<svg><desc><svg><g><![CDATA[ <!-- ]]>"
    f"<style><img src='{PIXEL}'></style>",
}


# CSS in style attributes: the skip loop hands a tag over when its style may load something
# (css.STYLE_MAY_LOAD_RE), and Neutraliser.style_attribute rewrites it.
STYLE_ATTRIBUTES = {
    "style_attribute_url": "<div style='background-image:url(//www.facebook.com/tr)'>x</div>",
    "style_attribute_entity_encoded": f"<p style='background:&#117;rl({PIXEL})'>x</p>",
    "style_attribute_escaped_unquoted": f"<span style=background:\\75rl({PIXEL})>x</span>",
    "style_attribute_on_a_loading_tag": f"<img src=/a.png style='background:url({PIXEL})'>",
    "style_and_background_both_blocked": f"<table><tr><td background={PIXEL} style='background:url({PIXEL})'>x</table>",
    "style_attribute_second_copy_ignored_first_loads": f"<div style='background:url({PIXEL})' style='color:red'>x</div>",
    "style_attribute_on_an_svg_element": f"<svg><rect style='fill:url({PIXEL}#g)'/></svg>",
    "style_attribute_uppercase_url": f"<b STYLE='background:URL( \"{PIXEL}\" )'>x</b>",
}


@pytest.mark.parametrize("page", STYLE_ATTRIBUTES.values(), ids=STYLE_ATTRIBUTES.keys())
def test_style_attribute_is_neutralised(page):
    data = page.encode()
    assert live_trackers(data)
    out = rewrite(data)
    assert live_trackers(out) == []
    assert list(events(out)) == list(events(data))


@pytest.mark.parametrize("page", FOREIGN.values(), ids=FOREIGN.keys())
def test_foreign_content_is_followed(page):
    data = page.encode()
    assert live_trackers(data), "the page must load a tracker without the proxy"
    out = rewrite(data)
    assert live_trackers(out) == []
    assert list(events(out)) == list(events(data)), "only the tracker tags may change"


# Integration points (<foreignObject>, <desc>, <title> in SVG; <mi>, <mtext>... and
# <annotation-xml encoding=text/html> in MathML) are HTML again: raw text and CDATA-like
# markup there hide a tracker-looking tag as they do in HTML, and it must be left alone.
FOREIGN_HARMLESS = {
    "foreign_object_style": f"<svg><foreignObject><style><img src='{PIXEL}'></style>",
    "desc_xmp": f"<svg><desc><xmp><script src='{GA}'></script></xmp></desc></svg>",
    "svg_title_textarea": f"<svg><title><textarea><img src='{PIXEL}'></textarea></title>",
    "math_mi_style": f"<math><mi><style><img src='{PIXEL}'></style></mi></math>",
    "math_mtext_title": f"<math><mtext><title><img src='{PIXEL}'></title></mtext></math>",
    "annotation_xml_html": f"<math><annotation-xml encoding=Text/HTML><noembed>"
    f"<img src='{PIXEL}'></noembed>",
    "svg_cdata_holds_tag": f"<svg><![CDATA[ <img src='{PIXEL}'> ]]></svg>",
    "cdata_after_html_in_foreign_object_is_bogus_comment": f"<svg><foreignObject><p><![CDATA[ <img src='{PIXEL}' ]]></svg>",
    "svg_comment": f"<svg><!-- <img src='{PIXEL}'> --></svg>",
    "breakout_end_p_makes_iframe_raw_text": f"<svg></p><iframe><img src='{PIXEL}'></iframe>",
    "svg_script_in_desc_is_script_data": f"<svg><desc><script>'<img src=\"{PIXEL}\">'</script>",
}


@pytest.mark.parametrize(
    "page", [*HARMLESS.values(), *FOREIGN_HARMLESS.values()], ids=[*HARMLESS, *FOREIGN_HARMLESS]
)
def test_tracker_text_that_is_no_tag_is_left_alone(page):
    data = page.encode()
    assert live_trackers(data) == []
    assert rewrite(data) == data


@pytest.mark.parametrize(
    "name",
    [
        "svg_style_holds_markup",
        "cdata_gt_hides_no_img",
        "svg_inline_script_loader",
        "nested_svg_in_foreign_object",
        "breakout_end_p_then_style",
        "svg_style_import",
        "svg_style_import_in_cdata",
    ],
)
def test_foreign_content_split_across_chunks_at_every_offset(name):
    data = ("<p>before</p>" + FOREIGN[name] + "<p>after</p>").encode()
    whole = rewrite(data)
    assert live_trackers(whole) == []
    for cut in range(1, len(data)):
        rw = HtmlRewriter(Neutraliser(POLICY, NO_DECISION, MARK), BANNER, False)
        assert rw.feed(data[:cut]) + rw.feed(data[cut:]) + rw.close() == whole, f"cut at {cut}"


# A visitor who allowed social media (Facebook's plugins: www.facebook.com) but not advertising
# (its pixel: www.facebook.com/tr). The pixel's path, spelled as the URL parser or the server
# reads it the same, must still be the pixel's.
SOCIAL = ConsentState(True, frozenset({"social"}))
PIXEL_PATHS = {
    "dot_segment": "https://www.facebook.com/./tr?id=1",
    "double_dot_segment": "https://www.facebook.com/x/../tr?id=1",
    "percent_encoded_dot_segments": "https://www.facebook.com/a/%2e%2E/%2E/tr?id=1",
    "backslashes_and_dot_segment": "https:\\\\www.facebook.com\\.\\tr?id=1",
    "escaped_unreserved_characters": "https://www.facebook.com/%74%72?id=1",
}


@pytest.mark.parametrize("url", PIXEL_PATHS.values(), ids=PIXEL_PATHS.keys())
def test_path_prefix_service_matches_the_path_the_server_reads(url):
    data = f"<img src='{url}'>".encode()
    assert live_trackers(data)
    out = rewrite(data, state=SOCIAL)
    assert live_trackers(out) == [] and b'data-consent-blocked="facebook-pixel"' in out
    plugin = b"<iframe src='https://www.facebook.com/plugins/./page.php'></iframe>"
    assert rewrite(plugin, state=SOCIAL) == plugin  # social allowed: the plugin loads


# A <base> on a tracker's host (not blocked itself: www.facebook.com/ is no pixel) sends every
# relative URL after it there. No parser oracle here: html5lib does not resolve URLs.
BASE = "<base href='https://www.facebook.com/x/y'>"
RELATIVE = {
    "relative_path": "<img src='../tr?id=1'>",
    "path_absolute": "<img src=/tr?id=1>",
    "dot_segments": "<img src='./.././../tr?id=1'>",
    "srcset": "<img srcset='/tr?id=1 1x'>",
    "script": "<script src=/tr></script>",
    "style_attribute": "<div style='background:url(/tr)'>x</div>",
    "style_element": "<style>p{background:url(/tr)}</style>",
}


@pytest.mark.parametrize("skip", SKIPS.values(), ids=SKIPS.keys())
@pytest.mark.parametrize("page", RELATIVE.values(), ids=RELATIVE.keys())
def test_relative_urls_resolve_against_a_base_on_a_tracker_host(page, skip):
    data = (BASE + page).encode()
    rw = HtmlRewriter(Neutraliser(POLICY, SOCIAL, MARK), BANNER, False, skip=skip)
    out = rw.feed(data) + rw.close()
    assert out.startswith(BASE.encode())  # the base itself names no pixel
    assert b'data-consent-blocked="facebook-pixel"' in out
    assert b" src=" not in out and b" srcset=" not in out and b"url(/tr)" not in out
    first_party = b"<base href='/static/'>" + page.encode()
    assert rewrite(first_party, state=SOCIAL) == first_party


def test_only_the_first_base_with_an_href_counts_and_a_blocked_one_does_not():
    data = (
        b"<base target=_top><base href='https://www.google-analytics.com/'>"
        b"<base href='https://www.facebook.com/'><img src=tr>"
    )
    out = rewrite(data, state=SOCIAL)
    assert b"data-consent-href" in out  # the analytics base is neutralised: the next counts
    assert b'<img data-consent-blocked="facebook-pixel"' in out
    data = b"<base href='https://cdn.example/'><base href='https://www.facebook.com/'><img src=tr>"
    assert rewrite(data, state=SOCIAL) == data  # the first base wins


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("declared", [False, True], ids=["bom", "charset"])
def test_utf16_page_is_rewritten_as_utf8(codec, declared):
    """A UTF-16 page hides every tag from a byte scanner: it is read as UTF-16 (byte order
    mark, or the Content-Type's charset) and comes out as UTF-8 with a UTF-8 BOM, which the
    browser honours before any declared charset."""
    page = f"<!DOCTYPE html><p>caf\u00e9 \u4e2d</p><script src={GA}></script>"
    data = ("" if declared else "\ufeff").encode() + page.encode(codec)
    if not declared:
        data = page.join(["\ufeff", ""]).encode(codec)
    assert live_trackers(page.encode())
    ctype = "text/html; charset=UTF-16" + ("BE" if codec.endswith("be") else "")
    for chunk in (1, 7, len(data)):
        rw = HtmlRewriter(
            Neutraliser(POLICY, NO_DECISION, MARK),
            BANNER,
            False,
            content_type=ctype if declared else "text/html; charset=iso-8859-1",
        )
        out = b"".join(rw.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
        out += rw.close()
        assert out.startswith(b"\xef\xbb\xbf") and out.count(b"\xef\xbb\xbf") == 1
        assert live_trackers(out[3:]) == []
        assert list(events(out[3:])) == list(events(page.encode()))


# The proxy's marks: what banner.js activates. The site's own data-consent-* attributes (user
# content keeping data-*) must never pass for them.
def test_site_data_consent_attributes_on_a_neutralised_element_are_renamed():
    data = (
        b"<iframe data-consent-srcdoc='<script>alert(1)</script>' src=https://www.youtube.com/"
        b"embed/x DATA-CONSENT-MARK=guess data-consent-action=open data-consent-blocked=x>"
    )
    out = rewrite(data)
    assert out.count(b"data-consent-mark=") == 1
    assert b'data-consent-mark="%s"' % MARK.encode() in out
    assert b"data-site-consent-srcdoc='<script>" in out and b"data-site-consent-MARK=guess" in out
    assert b" data-consent-srcdoc" not in out and b"data-site-consent-blocked=x" in out
    assert b"data-consent-action=open" in out  # the site's own "open" link keeps working


def test_site_data_consent_attributes_elsewhere_get_no_mark():
    data = (
        b"<img data-consent-blocked=google-analytics data-consent-src='javascript:alert(1)'>"
        b"<a data-consent-href='javascript:alert(1)' data-consent-blocked=x>x</a>"
    )
    assert rewrite(data) == data and rewrite(data, state=ALL) == data


def test_each_response_has_its_own_mark():
    tag = f"<script src={GA}></script>".encode()
    marks = set()
    for _ in range(3):
        n = Neutraliser(POLICY, NO_DECISION)
        rw = HtmlRewriter(n, BANNER, False)
        out = rw.feed(tag) + rw.close()
        assert b'data-consent-mark="%s"' % n.mark.encode() in out and len(n.mark) >= 16
        marks.add(n.mark)
    assert len(marks) == 3
