import pytest

from kanjinet.core import classes


def test_table_has_3036_classes_in_jis_order_without_duplicates():
    table = classes.class_table()
    assert len(table) == classes.NUM_CLASSES == 3036
    codes = [info.jis for info in table]
    assert codes == sorted(codes)
    assert len(set(codes)) == 3036
    assert len({info.char for info in table}) == 3036
    assert [info.index for info in table] == list(range(3036))


def test_71_hiragana_then_2965_kanji():
    table = classes.class_table()
    hiragana = [info for info in table if 0x3041 <= info.unicode <= 0x309F]
    assert len(hiragana) == 71
    assert table[70].char == "ん" and table[71].char == "亜"
    assert table[-1].char == "腕" and table[-1].jis == 0x4F53
    for small in "ぁぃぅぇぉっゃゅょゎゐゑ":
        assert small not in {info.char for info in hiragana}


def test_rice_field_has_its_jis_and_unicode():
    info = classes.class_of_char("田")
    assert info.jis == 0x4544
    assert info.unicode == 0x7530
    assert classes.CLASS_JIS[info.index] == 0x4544
    assert info.as_dict() == {"index": info.index, "jis": "4544", "unicode": "7530", "char": "田"}


def test_jis_char_round_trip_and_lookup_array():
    lookup = classes.jis_lookup()
    for info in classes.class_table()[::97]:
        assert classes.char_to_jis(info.char) == info.jis
        assert lookup[info.jis] == info.index
    assert lookup[0x2421] == -1  # ぁ is not an ETL9G class
    assert lookup[0] == -1


def test_whole_table_keeps_etl9g_labels_first_and_holds_every_jis_x_0208_character():
    table = classes.table_jis()
    assert table[: classes.NUM_CLASSES] == classes.CLASS_JIS
    assert len(table) == len(set(table)) == classes.table_size() == 6879
    lookup = classes.table_lookup()
    assert lookup[0x2522] == classes.table_index()[0x2522] >= classes.NUM_CLASSES  # ア
    assert classes.label_info(int(lookup[0x2522])).char == "ア"
    assert classes.label_info(5).char == classes.class_table()[5].char


def test_class_sets_are_keyed_by_character():
    sizes = {name: len(classes.class_set_labels(name)) for name in classes.CLASS_SETS}
    assert sizes["etl9g"] == 3036 and sizes["kana"] == 83 + 86
    assert sizes["etl9g+katakana"] == 3036 + 86
    assert sizes["etl9g+kana"] == 3036 + 12 + 86  # the 12 hiragana ETL9G lacks are added once
    np_etl9g = classes.class_set_labels("etl9g")
    assert list(np_etl9g) == list(range(3036))
    kana = {classes.label_info(int(i)).char for i in classes.class_set_labels("kana")}
    assert {"ぁ", "ゐ", "あ", "ア", "ヶ", "ヴ"} <= kana and "田" not in kana
    with pytest.raises(ValueError, match="expected one of etl9g, kana"):
        classes.class_set_labels("joyo")


def test_joyo_kana_holds_the_2136_joyo_kanji_in_jis_forms_and_every_kana():
    chars = {classes.label_info(int(i)).char for i in classes.class_set_labels("joyo+kana")}
    assert len(chars) == 2136 + 83 + 86
    kanji = {c for c in chars if classes.character_kind(c) == "kanji"}
    assert len(kanji) == 2136
    assert {"俺", "填", "剥", "叱", "頬", "鬱", "田"} <= kanji  # 2010 additions, JIS forms
    assert not {"丑", "塡", "剝"} & kanji  # level 1 but not jōyō; the notice's own forms
    assert {"ぁ", "ん", "ァ", "ヶ"} <= chars
    etl9g = {info.char for info in classes.class_table()}
    assert len(kanji - etl9g) == 30  # JIS level 2: no ETL9G class


def test_character_kinds():
    kinds = [classes.character_kind(c) for c in "あアー田々Ａ"]
    assert kinds == ["hiragana", "katakana", "katakana", "kanji", "kanji", "other"]
