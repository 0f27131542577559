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


def test_read_set_is_etl9g_the_full_size_katakana_and_the_long_vowel_mark():
    chars = classes.CLASS_SETS["read"]()
    assert len(chars) == len(set(chars)) == 3111
    assert chars[: classes.NUM_CLASSES] == "".join(i.char for i in classes.class_table())
    extra = chars[classes.NUM_CLASSES :]
    assert "ア" in extra and "ガ" in extra and "ヴ" in extra and "ー" in extra
    assert not set(extra) & set(classes.SMALL_KATAKANA)
    labels = classes.class_set_labels("read")
    assert len(labels) == 3111 and labels[: classes.NUM_CLASSES].tolist() == list(range(3036))


def test_katakana_and_the_long_vowel_mark_are_drawn_and_prepared_with_their_own_labels(tmp_path):
    """synth --chars takes any JIS X 0208 character in a JIS X 0208 format other than
    ETL9G's; prepare --classes read labels each by its character."""
    from kanjinet.data.dataset import load_prepared
    from kanjinet.data.prepare import PrepareConfig, prepare_dataset
    from kanjinet.synthesis.synth import SynthConfig, run_synth

    chars = "ガーロ口あ"
    etl = tmp_path / "etl"
    run_synth(SynthConfig(out=etl, writers=2, seed=1, format="etl8g", chars=chars, workers=1))
    out = tmp_path / "ds"
    prepare_dataset(PrepareConfig(etl_dir=etl, output_dir=out, size=32, classes="read", workers=1))
    data = load_prepared(out)
    drawn = [classes.label_info(int(label)).char for label in data.labels]
    assert sorted(drawn) == sorted(chars * 2)
    assert (data.images.reshape(len(drawn), -1).max(axis=1) > 0).all()


def test_chars_outside_jis_x_0208_or_in_a_jis_x_0201_format_are_refused():
    from kanjinet.core.errors import KanjinetError
    from kanjinet.synthesis.synth import SynthConfig, check_config

    with pytest.raises(KanjinetError, match="not a JIS X 0208 character"):
        check_config(SynthConfig(format="etl8g", chars="ガ😀"))
    with pytest.raises(KanjinetError, match="not with --format etl6"):
        check_config(SynthConfig(format="etl6", chars="ガ"))
    with pytest.raises(KanjinetError, match="given twice"):
        check_config(SynthConfig(format="etl8g", chars="ガガ"))
    with pytest.raises(KanjinetError, match="not one of the 3,036 ETL9G classes"):
        check_config(SynthConfig(format="etl9g", chars="ガ"))
