"""Generated report sections (docs/validation.md): each validation script rewrites only its
own section."""
from analysis.report import replace_section


def test_sections_are_replaced_in_place_and_appended(tmp_path):
    doc = tmp_path / "v.md"
    replace_section(doc, "# A", "# A title\n\n| a | 1 |\n")
    replace_section(doc, "# B", "# B title\n\nold b\n")
    replace_section(doc, "# C", "# C title\n\nc\n")
    replace_section(doc, "# B", "# B title\n\nnew b\n")
    text = doc.read_text()
    assert text == "# A title\n\n| a | 1 |\n\n# B title\n\nnew b\n\n# C title\n\nc\n"
    replace_section(doc, "# A", "# A title\n\n| a | 2 |\n")
    assert doc.read_text().startswith("# A title\n\n| a | 2 |\n\n# B title")
    assert doc.read_text().count("# ") == 3
