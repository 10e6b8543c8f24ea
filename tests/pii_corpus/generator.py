"""Labelled synthetic corpus of Japanese chat messages (no public labelled corpus exists).

    from tests.pii_corpus.generator import labelled_corpus, chat_messages
    samples = labelled_corpus()            # fixed seed: the same corpus on every run
    msgs = chat_messages(n=20_000)         # benchmark corpus: 200 chars, ~5 % with PII

Positives: every kind, real formats with valid check digits (values.py), written the ways
people type them (full-width, kanji digits, odd dashes, +81, keyword before or after).
Hard negatives: order numbers with wrong check digits, dates, money, extensions, URLs,
Matrix IDs, timestamps, version strings, IP addresses. Labels are spans in the text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import values

SEED = 20240401

_FW = {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-+().@/"}
_KANJI = dict(zip("0123456789", "〇一二三四五六七八九", strict=True))
_DASHES = ("‐", "‒", "–", "—", "―", "−", "ー", "─", "ｰ", "－")


@dataclass(frozen=True)
class Label:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Sample:
    text: str
    labels: tuple[Label, ...]
    tag: str  # what the sample exercises, for failure messages


@dataclass
class _Builder:
    parts: list[str] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    pos: int = 0

    def add(self, s: str, kind: str | None = None) -> None:
        if not s:
            return
        if kind is not None:
            self.labels.append(Label(kind, self.pos, self.pos + len(s)))
        self.parts.append(s)
        self.pos += len(s)

    def template(self, tpl: str, value: str, kind: str) -> None:
        before, _, after = tpl.partition("{v}")
        self.add(before)
        self.add(value, kind)
        self.add(after)

    def sample(self, tag: str) -> Sample:
        return Sample("".join(self.parts), tuple(self.labels), tag)


# --- how people write numbers -------------------------------------------------------------

def fullwidth(s: str) -> str:
    return "".join(_FW.get(c, c) for c in s)


def kanji(s: str, rng: random.Random) -> str:
    dash = rng.choice(("‐", "ー", "－", "-"))
    return "".join(_KANJI.get(c, dash if c == "-" else c) for c in s)


def odd_dashes(s: str, rng: random.Random) -> str:
    dash = rng.choice(_DASHES)
    return s.replace("-", dash)


def written(s: str, rng: random.Random, *, allow_kanji: bool = False) -> str:
    r = rng.random()
    if r < 0.2:
        return fullwidth(s)
    if r < 0.35 and "-" in s:
        return odd_dashes(s, rng)
    if allow_kanji and r < 0.45:
        return kanji(s, rng)
    return s


def grouped(s: str, layout: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for n in layout:
        out.append(s[i : i + n])
        i += n
    return sep.join(out)


# --- filler chat ----------------------------------------------------------------------------

_NAMES = ("田中", "鈴木", "佐藤", "高橋", "伊藤", "渡辺", "山本", "中村", "小林", "加藤")
_DEPTS = ("総務課", "税務課", "市民課", "福祉課", "子育て支援課", "防災課", "情報政策課", "保険年金課")


def filler(rng: random.Random) -> str:
    """One ordinary sentence of municipal staff chat, with the digits such chat has."""
    name, dept = rng.choice(_NAMES), rng.choice(_DEPTS)
    m, d = rng.randint(1, 12), rng.randint(1, 28)
    h, mi = rng.randint(8, 18), rng.choice(("00", "15", "30", "45"))
    choices = (
        f"お疲れさまです。{dept}の{name}です。",
        f"明日の会議は{h}時から第{rng.randint(1, 5)}会議室で行います。",
        f"{m}月{d}日の打ち合わせ資料を共有フォルダに置きました。",
        "ご確認よろしくお願いいたします。",
        f"{name}さん、先ほどの件ありがとうございました！",
        f"本日{h}:{mi}から庁内システムのメンテナンスがあります。",
        f"参加者は{rng.randint(3, 40)}名の予定です。",
        f"予算は{rng.randint(1, 999)},{rng.randint(100, 999)}円で見積もっています。",
        f"内線{rng.randint(1000, 9999)}までご連絡ください。",
        "了解しました。午後に対応します。",
        f"{rng.randint(2023, 2026)}年度の計画案について意見をください。",
        f"令和{rng.randint(5, 8)}年{m}月{d}日付けで通知が出ています。",
        "窓口が混雑しているので応援をお願いできますか？",
        f"会議室{rng.randint(201, 512)}号室に変更になりました。",
        "資料の三ページ目に誤字がありました。一緒に直しておきます。",
        f"第{rng.randint(1, 9)}回の委員会は延期です。",
        f"{dept}から{rng.randint(2, 15)}件の問い合わせがありました。",
        "議事録のドラフトを送ります。修正があれば教えてください。",
        f"システムはv{rng.randint(1, 5)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}に更新済みです。",
        f"詳細は https://www.city.example.lg.jp/soshiki/{rng.randint(100, 99999)}.html をご覧ください。",
        "台風の影響で明日の巡回は中止になりました。",
        f"{m}/{d}（{rng.choice('月火水木金')}）は{name}さんが休みです。",
        "七五三の時期なので神社周辺の交通整理をお願いします。",
        f"来庁者数は前年比{rng.randint(90, 130)}%でした。",
        f"郵送物が{rng.randint(2, 30)}通届いています。",
        "ありがとうございます。助かりました。",
        f"{h}時半ごろ戻ります。",
        "承知しました。",
    )
    if rng.random() >= 0.04:
        return rng.choice(choices)
    # Now and then a long digit run that is not personal data (it passes the scanner's
    # cheap gate and costs a full scan): about 20 % of 200-character messages get one.
    choices = (
        f"締切は{rng.randint(2024, 2026)}-{m:02d}-{d:02d}です。",
        f"文書番号は第{rng.randint(2024, 2026)}-{rng.randint(1, 99999):06d}号です。",
        f"写真は IMG_{rng.randint(2024, 2026)}{m:02d}{d:02d}_{rng.randint(0, 235959):06d}.jpg です。",
        f"令和{rng.randint(6, 8)}年度予算は{rng.randint(10, 999)},{rng.randint(100, 999)},"
        f"{rng.randint(100, 999)}円です。",
        f"伝票番号{rng.randint(10**11, 10**12 - 1)}で手配済みです。",
        f"ログは {rng.randint(2024, 2026)}-{m:02d}-{d:02d} {h:02d}:{mi}:00 以降を見てください。",
        f"見積額 {rng.randint(100000, 9999999)}円（税込）",
    )
    return rng.choice(choices)


_ENDS = "。！？、\n )）」"


def _sep(b: _Builder, rng: random.Random) -> None:
    """People end a number with punctuation, a space or a line break before going on."""
    if b.parts and b.parts[-1] and b.parts[-1][-1] not in _ENDS:
        b.add(rng.choice(("。", " ", "\n", "、", "！")))


def _fill(b: _Builder, rng: random.Random, n: int) -> None:
    for _ in range(n):
        _sep(b, rng)
        b.add(filler(rng))


# --- positives --------------------------------------------------------------------------------

# (template, how the value is written). Templates put the keyword before or after the value.
POSITIVE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "my_number": (
        "マイナンバーカードを持参されたので番号を控えました。{v}",
        "申請書の番号欄（{v}）はマイナンバーで合っていますか？",
        "{v}\nこれ、山田さんのマイナンバーです。",
        "マイナンバーは{v}です。", "{v}がマイナンバーです。", "個人番号：{v}",
        "申請者の個人番号 {v} を入力してください。", "通知カードの番号は{v}でした。",
        "確認お願いします、マイナンバー{v}", "{v}（個人番号）で照会してください。",
        "マイナンバーカードの番号{v}が読めません。",
    ),
    "corporate_number": (
        "委託先（法人番号{v}）との契約です。",
        "法人番号は{v}です。", "取引先の法人番号：{v}", "{v}（法人番号）で検索してください。",
        "株式会社サンプルの番号は{v}でした。",
    ),
    "phone": (
        "{v}に何度かけてもつながりません。", "ご自宅の番号は{v}とのことです。",
        "不在だったので、{v}へ折り返しの電話をお願いします。",
        "電話番号は{v}です。", "{v}までお電話ください。", "連絡先：{v}", "携帯 {v}",
        "TEL {v}", "折り返しは{v}にお願いします。", "{v}が携帯の番号です。",
        "問い合わせ先は{v}（平日9時～17時）です。",
    ),
    "email": (
        "{v}からメールが届いていません。", "CCに{v}を入れておいてください。",
        "メールは{v}までお願いします。", "{v} に送ってください。", "連絡先：{v}",
        "宛先を{v}に変更しました。",
    ),
    "credit_card": (
        "支払いに使ったカードは{v}とのことです。",
        "カード番号は{v}です。", "クレジットカード {v} で決済しました。", "{v}のカードで支払い済み。",
        "クレカ番号：{v}",
    ),
    "bank_account": (
        "ゆうちょ以外の銀行で、支店は本店営業部、普通 {v} です。", "返金先の口座は{v}（普通）です。",
        "口座番号は{v}です。", "振込先：みなと銀行 本店 普通 {v}", "{v}が振込口座です。",
        "普通預金 口座番号{v} に振り込んでください。", "支店番号123 口座番号{v}",
    ),
    "passport": (
        "{v}がパスポートの番号です。",
        "パスポート番号は{v}です。", "旅券番号：{v}", "{v}（パスポート）のコピーをもらいました。",
        "Passport No. {v}",
    ),
    "residence_card": (
        "外国籍の方の在留カード（{v}）を確認済みです。",
        "在留カード番号は{v}です。", "{v}", "カードの番号 {v} を確認しました。",
        "在留カード：{v}（有効期限あり）",
    ),
    "drivers_license": (
        "本人確認書類：運転免許証 番号{v}",
        "運転免許証の番号は{v}です。", "免許証番号：{v}", "{v}が免許番号です。",
        "本人確認は運転免許証（{v}）で行いました。",
    ),
    "pension_number": (
        "ねんきん定期便に書いてある基礎年金番号が{v}でした。",
        "基礎年金番号は{v}です。", "年金番号：{v}", "{v}（基礎年金番号）で照会しました。",
        "年金手帳の番号 {v} を控えました。",
    ),
    "health_insurance": (
        "国民健康保険の保険者番号{v}で登録してください。",
        "保険者番号は{v}です。", "保険証の保険者番号：{v}", "{v}が被保険者番号です。",
        "被保険者証 番号{v}",
    ),
    "birth_date": (
        "対象者（{v}生まれ）に通知を送ります。", "生年月日欄には{v}と書かれていました。",
        "生年月日は{v}です。", "{v}生まれです。", "誕生日：{v}", "生年月日 {v}",
        "{v}生まれの方が対象です。",
    ),
    "postal_code": (
        "郵便番号 {v} で住所が出てきません。",
        "〒{v} 東京都千代田区", "郵便番号は{v}です。", "送付先 〒{v} みなと市役所",
    ),
}


def _value(kind: str, rng: random.Random) -> tuple[str, str]:
    """(written value, tag)"""
    if kind == "my_number":
        v = values.my_number(rng)
        style = rng.randrange(4)
        if style == 1:
            v = grouped(v, (4, 4, 4), rng.choice(("-", "-", ".")))
        elif style == 2:
            v = grouped(v, (4, 4, 4), " ")
        return written(v, rng, allow_kanji=True), f"style{style}"
    if kind == "corporate_number":
        v = values.corporate_number(rng)
        if rng.random() < 0.3:
            v = grouped(v, (1, 4, 4, 4), "-")
        return written(v, rng), ""
    if kind == "phone":
        return written(values.phone(rng), rng, allow_kanji=True), ""
    if kind == "email":
        v = values.email(rng)
        return (fullwidth(v) if rng.random() < 0.1 else v), ""
    if kind == "credit_card":
        v, layout = values.credit_card(rng)
        r = rng.random()
        if r < 0.4:
            v = grouped(v, layout, "-")
        elif r < 0.8:
            v = grouped(v, layout, " ")
        return written(v, rng), ""
    if kind == "bank_account":
        return written(values.bank_account(rng), rng), ""
    if kind == "passport":
        return written(values.passport(rng), rng), ""
    if kind == "residence_card":
        return written(values.residence_card(rng), rng), ""
    if kind == "drivers_license":
        return written(values.drivers_license(rng), rng), ""
    if kind == "pension_number":
        return written(values.pension_number(rng), rng), ""
    if kind == "health_insurance":
        return written(values.health_insurance(rng), rng), ""
    if kind == "birth_date":
        v = values.birth_date(rng)
        return (fullwidth(v) if rng.random() < 0.2 else v), ""
    if kind == "postal_code":
        return written(values.postal_code(rng), rng, allow_kanji=True), ""
    raise ValueError(kind)


def positive(kind: str, rng: random.Random) -> Sample:
    b = _Builder()
    _fill(b, rng, rng.randint(0, 2))
    tpl = rng.choice(POSITIVE_TEMPLATES[kind])
    value, tag = _value(kind, rng)
    _sep(b, rng)
    b.template(tpl, value, kind)
    _fill(b, rng, rng.randint(0, 2))
    return b.sample(f"pos:{kind}:{tag}:{tpl}")


def pair(rng: random.Random) -> Sample:
    """Two identifiers in one message, each with its own label."""
    b = _Builder()
    k1, k2 = rng.sample(sorted(POSITIVE_TEMPLATES), 2)
    for k in (k1, k2):
        _sep(b, rng)
        value, _ = _value(k, rng)
        b.template(rng.choice(POSITIVE_TEMPLATES[k]), value, k)
    return b.sample(f"pair:{k1}+{k2}")


def form(rng: random.Random) -> Sample:
    """A pasted application form: several labelled lines, one identifier per line."""
    b = _Builder()
    b.add(rng.choice(("以下の方の申請です。\n", "【申請内容】\n", "転記お願いします\n")))
    b.add(f"氏名：{rng.choice(_NAMES)} {rng.choice(('太郎', '花子', '一郎', '美咲'))}\n")
    lines = [
        ("birth_date", "生年月日：{v}"),
        ("phone", "電話：{v}"),
        ("postal_code", "住所：〒{v} みなと市中央1-2-3"),
        ("my_number", "個人番号：{v}"),
        ("email", "メール：{v}"),
        ("health_insurance", "保険者番号：{v}"),
        ("bank_account", "振込先口座：普通 {v}"),
        ("pension_number", "基礎年金番号：{v}"),
    ]
    for kind, tpl in rng.sample(lines, rng.randint(2, 5)):
        value, _ = _value(kind, rng)
        b.template(tpl, value, kind)
        b.add("\n")
    b.add(rng.choice(("以上です。", "確認お願いします。", "")))
    return b.sample("form")


_KW_NEGATIVES = (
    "マイナンバーカードの申請は窓口でお願いします。",
    "電話が鳴りっぱなしです。",
    "口座振替の締切は{y}年{m}月{d}日です。",
    "保険証の切り替えは{m}月{d}日からです。",
    "年金番号の問い合わせが{n}件ありました。",
    "パスポートの申請窓口は第{k}会議室です。",
    "運転免許証の更新は{y}-{m:02d}-{d:02d}までです。",
    "保険者番号は保険証の表面に記載されています。",
    "在留カードの確認をお願いします。内線{e}です。",
    "口座に{big}円を入金しました。",
    "郵便番号の検索システムが止まっています。",
    "誕生日会は{m}月{d}日の予定です。",
    "クレジットカード決済の手数料は{k}.{k}%です。",
    "法人番号の公表サイト https://www.houjin-bangou.nta.go.jp/ を確認。",
    "マイナンバー関係の研修は{h}:00から、定員{n}名です。",
)


def keyword_negative(rng: random.Random) -> Sample:
    """Sentences with identifier keywords but no identifier."""
    tpl = rng.choice(_KW_NEGATIVES)
    text = tpl.format(y=rng.randint(2020, 2030), m=rng.randint(1, 12), d=rng.randint(1, 28),
                      n=rng.randint(2, 300), k=rng.randint(1, 9), e=rng.randint(1000, 9999),
                      h=rng.randint(9, 17), big=f"{rng.randint(1000000, 9999999):,}")
    b = _Builder()
    _fill(b, rng, rng.randint(0, 2))
    _sep(b, rng)
    b.add(text)
    _fill(b, rng, rng.randint(0, 2))
    return b.sample(f"neg:kw:{tpl}")


# --- hard negatives ---------------------------------------------------------------------------

def _b64(rng: random.Random, n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(rng.choice(alphabet) for _ in range(n))


def negative(rng: random.Random) -> Sample:
    """Text full of numbers that are not personal identifiers."""
    y, m, d = rng.randint(2000, 2030), rng.randint(1, 12), rng.randint(1, 28)
    bad = values.bad_my_number(rng)
    choices = (
        ("order", f"注文番号 {bad} の件、発送済みです。"),
        ("order", f"ご注文番号は{bad}です。"),
        ("order", f"伝票番号：{grouped(bad, (4, 4, 4), '-')}"),
        ("order", f"受付番号 {grouped(values.my_number(rng), (4, 4, 4), '-')} で登録しました。"),
        ("order", f"管理番号{values.my_number(rng)}の備品を返却してください。"),
        ("order_bad12", f"番号 {bad} を確認してください。"),
        ("date", f"{y}年{m}月{d}日に会議があります。"),
        ("date", f"期限は{y}/{m:02d}/{d:02d}です。"),
        ("date", f"{y}-{m:02d}-{d:02d}から受付開始。"),
        ("date", f"令和{rng.randint(1, 8)}年{m}月{d}日付の通知"),
        ("date", f"{y}{m:02d}{d:02d}締め"),
        ("money", f"¥{rng.randint(1, 9)},{rng.randint(100, 999)},{rng.randint(100, 999)}の請求です。"),
        ("money", f"{rng.randint(100, 999)},{rng.randint(100, 999)}円を支払いました。"),
        ("money", f"予算{rng.randint(1000000, 99999999)}円を計上。"),
        ("money", f"合計 ￥{rng.randint(100000, 9999999)} です。"),
        ("money", f"補助金は{rng.randint(100, 999)}万{rng.randint(1000, 9999)}円です。"),
        ("ext", f"内線{rng.randint(1000, 9999)}にお願いします。"),
        ("ext", f"代表から内線 {rng.randint(100, 999)}-{rng.randint(1000, 9999)} へ転送。"),
        ("url", f"https://www.city.example.lg.jp/kurashi/{values.digits(rng, 12)}.html を参照。"),
        ("url", f"https://example.jp/form?id={values.my_number(rng)}&tel=0{values.digits(rng, 10)}"),
        ("url", f"mxc://city.example.lg.jp/{_b64(rng, 24)}{values.digits(rng, 8)}"),
        ("event", f"イベント ${_b64(rng, 43)} を確認してください。"),
        ("event", f"${values.digits(rng, 12)}abc:city.example.lg.jp のメッセージ"),
        ("room", f"ルーム !{_b64(rng, 10)}{values.digits(rng, 8)}:city.example.lg.jp に招待しました。"),
        ("user", f"@u{values.digits(rng, 11)}:city.example.lg.jp さんを招待。"),
        ("timestamp", f"{y}-{m:02d}-{d:02d}T{rng.randint(0, 23):02d}:30:00+09:00 に実行。"),
        ("timestamp", f"ts={rng.randint(1600000000, 1800000000)}"),
        ("timestamp", f"ログ {rng.randint(1600000000000, 1800000000000)} ms"),
        ("timestamp", f"{y}{m:02d}{d:02d}{rng.randint(0, 23):02d}3000 のバックアップ"),
        ("timestamp", f"{y}-{m:02d}-{d:02d} {rng.randint(0, 23):02d}:15:00 に更新"),
        ("version", f"Python {rng.randint(2, 3)}.{rng.randint(0, 13)}.{rng.randint(0, 20)} を使用"),
        ("version", f"バージョン10.0.{rng.randint(10000, 22631)}.{rng.randint(100, 4000)}"),
        ("version", f"v{rng.randint(1, 30)}.{rng.randint(0, 99)}.{rng.randint(0, 99)}-rc{rng.randint(1, 5)}"),
        ("ip", f"{rng.randint(10, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
               f"{rng.randint(1, 254)} からアクセス"),
        ("doc", f"第{y}-{values.digits(rng, 6)}号の文書"),
        ("doc", f"ISBN978-4-{values.digits(rng, 2)}-{values.digits(rng, 6)}-{rng.randint(0, 9)}"),
        ("count", f"人口は{rng.randint(10000, 999999):,}人です。"),
        ("hash", f"コミット {_b64(rng, 7).lower()}{values.digits(rng, 7)} をマージ"),
        ("matrix_mention", "@tanaka:city.example.lg.jp さん、確認お願いします。"),
        ("mynumber_bare", f"この{values.my_number(rng)}は何の番号ですか？"),
        ("postal_bare", f"品目コード{values.digits(rng, 3)}-{values.digits(rng, 4)}"),
    )
    tag, text = rng.choice(choices)
    b = _Builder()
    _fill(b, rng, rng.randint(0, 2))
    _sep(b, rng)
    b.add(text)
    _fill(b, rng, rng.randint(0, 1))
    return b.sample(f"neg:{tag}")


def labelled_corpus(seed: int = SEED, per_kind: int = 200, pairs: int = 300, forms: int = 200,
                    negatives: int = 1500, chatter: int = 500) -> list[Sample]:
    rng = random.Random(seed)
    out: list[Sample] = []
    for kind in sorted(POSITIVE_TEMPLATES):
        out.extend(positive(kind, rng) for _ in range(per_kind))
    out.extend(pair(rng) for _ in range(pairs))
    out.extend(form(rng) for _ in range(forms))
    out.extend(negative(rng) for _ in range(negatives))
    out.extend(keyword_negative(rng) for _ in range(negatives // 3))
    for _ in range(chatter):
        b = _Builder()
        _fill(b, rng, rng.randint(1, 5))
        out.append(b.sample("neg:chatter"))
    return out


def chat_messages(seed: int = SEED, n: int = 20_000, length: int = 200,
                  pii_rate: float = 0.05) -> list[str]:
    """Benchmark corpus: messages of `length` chars, about pii_rate of them with PII."""
    rng = random.Random(seed + 1)
    kinds = sorted(POSITIVE_TEMPLATES)
    out: list[str] = []
    for _ in range(n):
        b = _Builder()
        if rng.random() < pii_rate:
            _fill(b, rng, rng.randint(0, 1))
            kind = rng.choice(kinds)
            value, _ = _value(kind, rng)
            _sep(b, rng)
            b.template(rng.choice(POSITIVE_TEMPLATES[kind]), value, kind)
        while b.pos < length:
            _fill(b, rng, 1)
        out.append("".join(b.parts)[:length])
    return out
