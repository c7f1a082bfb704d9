/**
 * query catalog (ja): the same keys and placeholders as ../en/query.ts (the source). Terms follow
 * docs/glossary.ja.md; sentences in です/ます調; field names, operators, values and examples stay as
 * they are typed. Quoted input in 「」, as the cli catalog quotes values.
 */
export const query = {
  at: '{{reason}}({{column}}文字目)',
  atHint: '{{reason}}({{column}}文字目。{{hint}})',
  reason: {
    tooLong: 'クエリが{{max}}文字を超えています',
    control: '制御文字{{char}}が含まれています',
    loneSurrogate: '無効な文字です(対になっていないUTF-16サロゲート)',
    unmatchedClose: '予期しない「)」です(対応する「(」がありません)',
    unexpectedText: '予期しないテキストです',
    negationSpace: '「-」は否定する条件の直前に続けて書きます',
    spaceAfterQuote: '閉じる引用符の後にはスペースが必要です',
    ambiguous: '「{{word}}」はあいまいです',
    unterminatedQuote: '引用符が閉じられていません',
    termAfter: '{{operator}}の後に条件が必要です',
    termBefore: '{{operator}}の前に条件が必要です',
    unexpectedClose: '予期しない「)」です',
    expectedTerm: '条件が必要です',
    tooDeep: '括弧の入れ子が{{max}}段を超えています',
    emptyParentheses: '括弧の中が空です',
    missingClose: 'この「(」を閉じる「)」がありません',
    tooManyTerms: '条件が{{max}}個を超えています',
    unknownField: '不明なフィールド「{{field}}」です',
    missingValue: '「{{after}}」の後に値がありません',
    emptyListValue: '「{{field}}:」の後のリストに空の値があります',
    invalid: '{{what}}の値「{{value}}」は無効です',
    invalidTime: '無効な時刻「{{value}}」です',
    invalidDate: '無効な日付「{{value}}」です',
    unknownValue: '不明な{{what}}「{{value}}」です',
    needsRange: '{{field}}には比較または範囲を指定してください',
    rangeNoStart: '範囲の開始がありません',
    rangeNoEnd: '範囲の終了がありません',
    rangeEmpty: '範囲が空です(開始が終了より後です)',
    unreadable: 'クエリを読み取れません({{error}})'
  },
  hint: {
    noSpace: '後ろにスペースを入れません',
    operator: '演算子は{{operator}}と書きます。単語として検索するには"{{word}}"と書きます',
    closeQuote: '"で閉じてください',
    didYouMean: '{{name}}のことですか?',
    fields: 'フィールド: {{fields}}。「:」を含むテキストは引用符で囲みます',
    method: 'HTTPメソッドを指定します: GET、POSTなど',
    oneOf: '次のいずれかです: {{values}}',
    flagTable: 'READMEのフラグ一覧を参照してください',
    status: '404、5xx、400..499、>=500、<400、noneのいずれかを使います',
    durationRange: 'duration:>5s、duration:<=100ms、duration:100ms..2sのように指定します',
    ttfbRange: 'ttfb:>5s、ttfb:<=100ms、ttfb:100ms..2s、ttfb:noneのように指定します',
    durationValue: 'ms、s、mを付けた数値です: 250ms、1.5s、2m(単位がなければms)',
    timeRange: 'time:>2h、time:<=2026-12-07T10:00Z、time:2026-12-07..2026-12-08のように指定します',
    timeValue: '相対時間(15m、2h、7d)またはISO 8601(2026-12-07、2026-12-07T10:00Z)を指定します'
  },
  param: '{{param}}: {{reason}}',
  paramReason: {
    hop: 'gatewayまたはmodelを指定してください',
    method: 'HTTPメソッドを指定してください',
    status: 'ステータス(404)またはクラス(4xx)を指定してください',
    cause: 'model_endpoint_missing_v1のような診断コードを指定してください',
    time: 'ISO 8601の時刻、または15m、2h、7dのような相対的な期間を指定してください',
    minDuration: '0以上の数値を指定してください'
  }
}
