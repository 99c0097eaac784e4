"""The tree builder's namespace model: which start tags are HTML once <svg>/<math> is open."""

import pytest

from consentproxy.rewrite.foreign import HTML, MATHML, SVG, ForeignContent


def run(markup: str) -> ForeignContent:
    """Feed the tags of markup (no text) to a fresh model."""
    model = ForeignContent()
    for tag in markup.replace(">", ">\0").split("\0")[:-1]:
        name = tag.strip("</>").split()[0].split("/")[0].lower().encode()
        if tag.startswith("</"):
            model.end_tag(name)
        else:
            model.start_tag(name, tag.encode())
    return model


def is_html(before: str, tag: str = "<style>") -> bool:
    """Whether `tag`, after `before`, is an HTML element (raw text, script data apply)."""
    model = run(before)
    name = tag.strip("<>").split()[0].encode()
    return model.start_tag(name, tag.encode())


@pytest.mark.parametrize(
    "before",
    [
        "",
        "<svg></svg>",
        "<svg/>",
        "<svg><g></svg>",
        "<math><mi></mi></math>",
        "<svg><foreignObject>",
        "<svg><desc>",
        "<svg><title>",
        "<math><mi>",
        "<math><mtext>",
        "<math><annotation-xml encoding='text/html'>",
        "<math><annotation-xml encoding=APPLICATION/XHTML+XML>",
        "<svg><g><img>",
        "<svg><font color=red>",
        "<svg><g></p>",
        "<svg></br>",
        "<svg><foreignObject><div><svg></svg>",
        "<svg><desc><span></desc>",
        "<svg><foreignObject><p><div></p></foreignObject>",
    ],
)
def test_html_start_tags(before):
    assert is_html(before)


@pytest.mark.parametrize(
    "before",
    [
        "<svg>",
        "<math>",
        "<svg><g>",
        "<svg><style>",
        "<svg><font>",
        "<svg><font class=x>",
        "<svg><foreignObject></foreignObject>",
        "<svg><foreignObject><svg>",
        "<math><mi><mglyph>",
        "<math><annotation-xml>",
        "<math><annotation-xml encoding=x>",
        "<math><foreignObject>",
        "<svg><mi>",
        "<svg><desc><math>",
        "<svg><g/>",
        "<math><annotation-xml><svg>",
    ],
)
def test_foreign_start_tags(before):
    assert not is_html(before)


def test_annotation_xml_lets_only_svg_in_as_html():
    assert is_html("<math><annotation-xml>", "<svg>")
    assert not is_html("<math><annotation-xml>", "<math>")


def test_namespaces_are_inherited_until_an_integration_point():
    model = run("<svg><math><foreignObject>")
    assert [ns for _, ns, _ in model.stack] == [SVG, SVG, SVG]
    model = run("<svg><desc><math><mi><b>")
    assert [ns for _, ns, _ in model.stack] == [SVG, SVG, MATHML, MATHML, HTML]


def test_cdata_needs_a_foreign_current_node():
    assert not ForeignContent().cdata_allowed()
    assert run("<svg>").cdata_allowed()
    assert run("<svg><foreignObject>").cdata_allowed()  # the integration point is SVG
    assert not run("<svg><foreignObject><b>").cdata_allowed()


def test_end_tags_pop_to_their_element_and_breakouts_empty_the_stack():
    assert run("<svg><g><a></g>").stack == [(b"svg", SVG, 0)]
    assert not run("<svg><g><a></svg>").stack
    assert not run("<svg><g><img>").stack
    assert run("<svg><g></x>").stack  # matches nothing: ignored
    assert not run("<svg><script></script></svg>").stack
    assert run("<svg><foreignObject><div></foreignObject>").stack  # the <div> is current: ignored


def test_self_closing_needs_the_slash_outside_an_unquoted_value():
    assert len(run("<svg><g a='b'/>").stack) == 1
    assert len(run("<svg><g a=b />").stack) == 1
    assert len(run("<svg><g a=b/>").stack) == 2  # the value is "b/"
    assert not run("<svg/>").stack and not run("<math />").stack


def test_a_deep_stack_of_one_element_costs_a_pointer_an_element():
    """`<svg><style>` and two million `<a>` (6 MB) held 223 MB in tuples and names."""
    import tracemalloc

    foreign = ForeignContent()
    foreign.start_tag(b"svg", b"<svg>")
    tracemalloc.start()
    for _ in range(500_000):
        foreign.start_tag(b"a", b"<a>")
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(foreign.stack) == 500_001 and size < 10 * len(foreign.stack)
