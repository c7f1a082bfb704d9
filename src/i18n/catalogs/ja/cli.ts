/**
 * cli catalog (ja): the same keys and placeholders as ../en/cli.ts (the source). Terms follow
 * docs/glossary.ja.md (GitLab's Japanese Duo Self-Hosted documentation); sentences in です/ます調;
 * commands, options, environment variables, keys, codes and values stay as they are. No
 * ambiguous-width characters (→, ×, “”) in text a table aligns: only ASCII and full-width.
 * Plurals: Japanese has one form, `_other`.
 */
export const cli = {
  main: {
    help: `duo-diag-proxy {{version}}: GitLab Duo Self-Hosted用の診断プロキシ

使い方: duo-diag-proxy <command> [flags]

コマンド:
  start      プロキシを実行(GitLab -> プロキシ -> AIゲートウェイ、任意でモデルへのホップも)
  failures   失敗したリクエスト: 時刻、ルート、相関ID、ステータス、フラグ、原因
  show       1件のリクエストを両ホップで表示(やり取りIDか相関IDで指定)、ウォーターフォール付き
  tail       キャプチャされたリクエストをライブで表示
  summary    合計、エラー率、内訳、レイテンシーのパーセンタイル
  export     フィルタリング済みのHAR 1.2またはNDJSON
  purge      記録を削除(顧客とのセッションの後に)
  doctor     サポートプレイブックのクイックチェックをAIゲートウェイとモデルエンドポイントに実行
  audit      ストア、エクスポート、ログからトークン形式の文字列を検索(見つかれば終了コード1)
  replay     キャプチャしたリクエストをステージングのAIゲートウェイに再送し、元の結果と並べて表示
  bundle     サポートバンドル: HAR、NDJSON、サマリー、メトリクス、設定、doctor、バージョン
  demo       シミュレートしたAIゲートウェイとモデル、両ホップのプロキシ、台本どおりの失敗で動作確認
  logs       GitLabのllm.logとAIゲートウェイのログを取り込み、記録したトラフィックと同じように診断

各コマンドのフラグは「duo-diag-proxy <command> --help」で確認できます。
  -h, --help       このヘルプ
  -v, --version    バージョンを表示
  --lang en|ja     メッセージ、ヘルプ、表の言語: 英語または日本語(すべてのコマンドで使用可)。
                   指定がなければDUO_DIAG_LANG、次にロケール: LC_ALL、LC_MESSAGES、LANG
                   (ja_JP.UTF-8は日本語)
終了コード: 0: 成功、1: チェックの失敗または予期しないエラー、2: 使い方または設定の誤り。

出力: 表は端末の幅に収めます(最も幅の広い列を…で切り詰め、狭い端末では省略可能な列を
表示しません)。パイプやリダイレクトへの出力は、COLUMNSを設定しない限り切り詰めません。
色は端末でのみ付けます。NO_COLOR=1で無効になり、FORCE_COLOR=1で常に付けます(パイプでも)。
進行状況は、端末の場合にのみ標準エラー出力に表示します。
`,
    unknownCommand: '不明なコマンド「{{name}}」です',
    unknownOption: '不明なオプション「{{name}}」です',
    runHelp: '使い方は「duo-diag-proxy --help」で確認できます。',
    runCommandHelp: '使い方は「duo-diag-proxy {{command}} --help」で確認できます。'
  },
  lang: {
    invalid: '--lang: 「{{value}}」のメッセージはありません。次のいずれかを指定してください: {{langs}}',
    missing: '--langには値が必要です: enまたはja'
  },
  didYouMean: '。{{name}}のことですか?',
  didYouMeanQuoted: '。「{{name}}」のことですか?',
  list: {
    separator: '、'
  },
  args: {
    unknownOption: '不明なオプション「{{option}}」です',
    missingValue: 'オプション{{option}}に値がありません',
    noValue: 'オプション{{option}}は値を取りません',
    ambiguousValue: 'オプション{{option}}の値があいまいです(-で始まる値は{{option}}=VALUEの形で指定してください)',
    unexpected: '予期しない引数「{{arg}}」です。このコマンドは位置引数を取りません'
  },
  help: {
    source: `データの取得元:
  --admin URL|HOST:PORT  実行中のプロキシの管理API [http://127.0.0.1:5099]
  --admin-token TOKEN    管理APIのトークン(またはDUO_DIAG_ADMIN_TOKEN / DUO_DIAG_ADMIN__TOKEN)
  --db FILE|URL          ストアを直接読み取ります: 停止したプロキシのSQLiteファイル、または
                         共有PostgreSQLデータベース(postgres://...: すべてのインスタンスの記録)
  --json                 表の代わりにスクリプト向けのJSONを出力
`,
    filter: `フィルター:
  --route NAME  --method M  --path PREFIX  --status 404|4xx  --flag F (繰り返し可: いずれかに一致)
  --feature F  --correlation-id ID  --since 15m|2h|ISO  --until ...  --min-duration-ms N
  --proxy-instance NAME  (記録したプロキシインスタンス。共有ストアの場合)

クエリ(引数で指定。シングルクォートで囲むと確実です。上のフラグとANDで結合します):
  'flag:timeout feature:chat status:5xx since:1h'   並べたfield:valueの条件はANDで結合
  'status:5xx OR flag:timeout'  'NOT route:model'  '-flag:slow'  '(a OR b) c'  'flag:timeout,tls_error'
  フィールド: route hop method path(前方一致) status flag feature correlation_id|cid
  cause(原因コード、または部分一致) model proxy_instance|instance duration ttfb since until time
  status:404|5xx|400..499|>=500|none  duration:>5s|<=100ms|100ms..2s  ttfb:>1s|none
  since:1h  until:2026-12-07T10:00Z  time:2026-12-07..2026-12-08   単語のみ: pathかcauseに含む
  スペースを含む値は引用符で囲みます: cause:"not reachable"
`,
    failures: `使い方: duo-diag-proxy failures [QUERY] [filters] [--limit N]

失敗したリクエストを新しい順に表示します: 時刻、ルート、相関ID、ステータス、フラグ、原因。
--flagを指定しない場合は、すべての失敗フラグが対象です(クライアントの中断、slow、トークンの
予測は対象外です)。

{{filters}}
{{source}}`,
    show: `使い方: duo-diag-proxy show <exchange id | correlation id>

1件のリクエストを両方のホップで表示します: 各やり取り(記録されたリクエストと応答)の
ステータス、フラグ、原因、根拠、次の手順、AIゲートウェイへのリクエストに紐付いたモデル呼び出し、
ウォーターフォール。インポートしたログ行(duo-diag-proxy logs import: GitLabのllm.log、AIゲートウェイのログ)は、
プロキシのやり取りと1つのタイムラインにまとめて表示します。ログだけから再構成したやり取りには(ログから再構成)と表示します。

{{source}}`,
    tail: `使い方: duo-diag-proxy tail [QUERY] [filters]

キャプチャされたリクエストをライブで表示します(実行中のプロキシが必要です)。Ctrl-Cで停止します。

{{filters}}
{{source}}`,
    summary: `使い方: duo-diag-proxy summary [QUERY] [filters]

合計とエラー率、ルート・機能・ステータス・フラグ・原因ごとの件数、ルートと機能ごとの
最初のバイトまでの時間(TTFB)と所要時間のパーセンタイルを表示します。--sinceのデフォルトは1hです。

{{filters}}
{{source}}`,
    export: `使い方: duo-diag-proxy export --format har|ndjson [--out FILE] [QUERY] [filters]

フィルタリング済みのHAR 1.2(ブラウザーの開発者ツールで開けます)またはNDJSONをストリーミングで
出力します。--out -(デフォルト)は標準出力です。

{{filters}}
{{source}}`,
    purge: `使い方: duo-diag-proxy purge [QUERY] [filters] | --all

一致するやり取りの記録を削除します(顧客とのセッションの後など)。削除した件数を表示します。

{{filters}}  --all                  すべて
{{source}}`,
    start: `使い方: duo-diag-proxy start [flags]

プロキシを実行します。デフォルト: ルートgitlab-aigwが0.0.0.0:5053で待ち受けて
http://127.0.0.1:5052に転送し、管理APIは127.0.0.1:5099、ストアは./data/exchanges.dbです。
GitLabのAIゲートウェイURLをプロキシの待ち受けアドレスに向けます(必要に応じて、
セルフホストモデルのモデルエンドポイントを2つ目のルートに向けます)。トラフィックは変更せずに
転送します。各やり取りは、GitLabがログをフィルタリングするのと同じ方法でフィルタリングして
記録し、http://127.0.0.1:5099/api/exchangesで照会できます。

フラグ(それぞれ設定ファイルとDUO_DIAG_*環境変数より優先されます):
  --config FILE          YAML設定(config/default.yamlを参照)。DUO_DIAG_CONFIGでも指定可
  --listen HOST:PORT     1ルートの簡易形式の待ち受けアドレス [0.0.0.0:5053]
  --upstream URL         1ルートの簡易形式のアップストリーム [http://127.0.0.1:5052]
  --route NAME[:HOP]=LISTEN=UPSTREAM
                         ルートを追加します。例: model=127.0.0.1:5054=http://127.0.0.1:8000
                         HOPはgateway、model、auto(パスで判定)のいずれかです。modelまたは
                         gatewayという名前のルートはそのホップに置かれます。
                         例: vllm:model=0.0.0.0:5054=http://vllm:8000
                         (繰り返し可。フラグで定義したルートはファイルのルートを置き換えます)
  --admin HOST:PORT|URL  管理API(照会API)のアドレス(またはhttp://HOST:PORT)。無効にするには"off"
                         [127.0.0.1:5099]
  --admin-token TOKEN    管理APIで"Authorization: Bearer TOKEN"を必須にします(ループバック以外の
                         アドレスで待ち受ける場合に必要)。DUO_DIAG_ADMIN__TOKENでも指定可
  --db PATH|URL          ストア: SQLiteファイル(またはsqlite:PATH、:memory:)、または共有
                         PostgreSQLデータベースpostgres://user:pass@host:5432/db
                         [./data/exchanges.db]
  --proxy-instance NAME  記録に付けるこのプロキシの名前(複数のプロキシで1つのPostgreSQLストアを
                         共有する場合) [ホスト名]
  --capture-bodies       詳細キャプチャ: プロンプトと補完のテキストを保持します(シークレットは
                         引き続きフィルタリングされます)。GitLabの詳細なAIロギングと同じく、
                         デフォルトでは無効です。
  --no-capture           転送のみで何も記録しません(緊急停止用。ベンチマークの基準)
  --ca-file FILE         httpsのアップストリームで信頼する追加のCAバンドル(PEM)
  --insecure-skip-verify アップストリームのTLS証明書を検証しません(ログに目立つように記録され
                         ます。ステージング専用)
  --log-level LEVEL      fatal|error|warn|info|debug|trace|silent [info]

問題の再現中に使うフラグ(それぞれすべてのルートに適用されます):
  --connect-timeout D    アップストリームへのTCP接続とTLSハンドシェイク(500ms、10s、2m) [10s]
  --headers-timeout D    リクエストの送信からアップストリームの応答ヘッダーまで [90s]
  --body-timeout D       応答ボディの2つのチャンクの間で、応答がない時間の上限 [90s]
  --slow-ttfb D          最初のバイトまでの時間がこれを超えるとフラグslowを付けます [15s]
  --slow-duration D      所要時間がこれを超えるとフラグslowを付けます [30s]
  --max-body SIZE        これより大きいリクエストボディには413を返します(バイト数、512KiB、64MiB)
                         [64MiB]
  --faults / --no-faults フォールトインジェクションの有効/無効(ステージング専用)
  --set KEY=VALUE        任意の設定キー。例: --set store.flush_interval_ms=10、
                         --set routes.0.timeouts.connect_ms=5000(値はYAMLとして読み取ります。
                         繰り返し可)

起動後、各ルートのアップストリームに1回だけ接続を試みます(バックグラウンドでのTCP接続)。
応答がない場合は、その意味をわかりやすく警告します(端末の場合は標準エラー出力にも表示します)。

停止: SIGTERM/SIGINTで、処理中のやり取りの完了を待ち(shutdown_grace_ms、10秒)、
すべての記録を書き込みます。2回目のシグナルで待機をやめます(それらのやり取りは切断され、
中断として記録されます。すべての記録は引き続き書き込まれます)。3回目ですぐに終了します。

環境変数: DUO_DIAG_<SECTION>__<KEY>。AIゲートウェイのAIGW_*変数と同じく"__"で入れ子にします。
例: DUO_DIAG_STORE__PATH=/data/x.db、DUO_DIAG_CAPTURE__BODIES=true、
DUO_DIAG_PROXY_INSTANCE=aigw-0、DUO_DIAG_ROUTES__0__UPSTREAM=https://aigw.example.com
`,
    doctor: `使い方: duo-diag-proxy doctor [--gateway URL] [--model URL] [flags]

サポートプレイブックのクイックチェックを自動化したものです。各URLについて: DNSで名前解決できること、
TCPで接続できること、TLS証明書チェーンが信頼でき、14日以内に期限切れにならず、ホスト名が一致する
こと(httpsの場合)。AIゲートウェイ: /monitoring/healthzと/monitoring/ready。モデル: URLが/v1で
終わること、/health(vLLM)または/health/liveliness(LiteLLM)、/v1/models(--model-nameの
モデルが提供されていること)、--chatを指定した場合は1トークンのPOST /v1/chat/completions。
失敗したチェックがあると終了コードは1です。各チェックの結果は完了した順に表示します。

  --gateway URL        AIゲートウェイのベースURL。例: http://aigw:5052
  --model URL          GitLabで設定したモデルエンドポイント。例: http://vllm:8000/v1
  --model-name NAME    GitLabで設定したモデル識別子
  --api-key KEY        モデルのAPIキー(またはDUO_DIAG_MODEL_API_KEY)
  --chat               1トークンのチャット補完も送信します(トークンを消費します)
  --ca-file FILE       信頼する追加のCAバンドル(PEM)
  --timeout-ms N       チェックごとのタイムアウト(ミリ秒) [5000]
  --json               JSONで出力
`,
    audit: `使い方: duo-diag-proxy audit [--db FILE]... [--file EXPORT]... [--dir DIR]...

ストア(およびエクスポート、ログ、バンドル)から、あってはならないトークン形式の文字列を
検索します: JWT、glpat-/gldt-/...などのGitLabトークン、sk-キー、ベアラー認証とベーシック認証の
資格情報、AWSキー、秘密鍵。記録のID(シークレットそのものは表示しません)を表示し、何か
見つかった場合は終了コード1で終了します。

  --db FILE|URL  ストア: SQLiteファイル、またはPostgreSQLデータベース(postgres://...)
                 [ほかに何も指定しない場合は./data/exchanges.db]
  --file FILE    HAR / NDJSONのエクスポート、またはログ
  --dir DIR      DIR以下のすべての*.db、*.har、*.ndjson、*.json、*.log
  --json         JSONで出力
`,
    replay: `使い方: duo-diag-proxy replay <exchange id> | --correlation-id ID | --har FILE  --target URL [flags]

キャプチャしたリクエストをステージングのAIゲートウェイまたはモデルサーバー(あるいはその前に置いた
プロキシのルート)に再送し、元のリクエストとリプレイの結果を並べて表示します: ステータス、フラグ、
原因、タイミング。

  <exchange id>          1件のやり取り
  --correlation-id ID    そのリクエストのAIゲートウェイのホップのやり取りすべて(なければ、
                         そのリクエストのすべてのやり取り)
  --har FILE             duo-diag-proxy exportで書き出したHARのすべてのエントリー
  --target URL           送信先。例: http://staging-aigw:5052。URLのパスを各リクエストのパスの前に
                         付けます
  --header 'N: V'        リクエストヘッダーを追加または置換します(繰り返し可)。ステージング用の
                         資格情報に使います
  --model-endpoint URL   ボディのモデルエンドポイントをステージングのモデルサーバーに向けます
  --timing               各リプレイを、最初のリクエストからの元の時間差で開始し、元の最初のバイト
                         までの時間と受信時間をリプレイの値と並べて表示します。--adminがフォールト
                         インジェクションを有効にしたステージングのプロキシの場合は、各リプレイを
                         元の最初のバイトまでの時間だけ遅らせます
  --timeout-ms N         接続、応答ヘッダー、ボディの無応答それぞれのタイムアウト(ミリ秒) [90000]
  --ca-file FILE         httpsのターゲットで信頼する追加のCAバンドル(PEM)
  --json                 JSONで出力

送信する内容: 同じメソッド、パス、クエリ(キャプチャ時にフィルタリングされたクエリとパスの値は
"[FILTERED]"のまま)、資格情報を除いた元のリクエストヘッダー(キャプチャではフィンガープリントのみを
保持しています。ステージング用の資格情報は--headerで指定します)、新しいX-Request-ID
replay-<correlation id>-<n>、およびx-duo-diag-replay-of: <original exchange id>。ボディは、
プロキシが詳細キャプチャで実行されていた場合はキャプチャしたもの(JSONは再シリアライズします)、
そうでなければ合成したものです: 記録に残る形(すべてのキー、すべての値の型。生成パラメータ、
ロール、モデル名は送信されたまま)で、元と同じサイズのプレースホルダーのテキストを入れます。
どちらを送信したかは出力に表示します。

元の記録の取得元(--harの場合は不要):
  --admin URL|HOST:PORT  実行中のプロキシの管理API [http://127.0.0.1:5099]
  --admin-token TOKEN    管理APIのトークン(またはDUO_DIAG_ADMIN_TOKEN / DUO_DIAG_ADMIN__TOKEN)
  --db FILE|URL          ストアを直接読み取ります(停止したプロキシのSQLiteファイル、または
                         postgres://...)

リプレイの記録先: --targetの前にプロキシがあれば、そのプロキシが各リプレイを記録します
(meta.replay_of)。管理API(--admin、または元の記録をそこから読み取る場合はデフォルトの管理API)で
その記録を検索します。どのプロキシも記録しなかったリプレイは、その管理API(元の記録のストア)に、
元の記録に紐付いた新しいやり取りとして記録し(meta.replay_of、meta.reported_by: replay)、
ライブのトラフィックと同じくフィルタリングして診断します。送信した資格情報はフィンガープリントのみを
記録します。いずれの場合も、リプレイのフラグと原因はその記録のものです。--dbまたは--harで--adminを
指定しない場合は何も記録せず、フラグと原因は応答から導出します。

終了コード: すべてのリプレイに応答があれば(ステータスを問わず)0、ターゲットに接続できなかったか
元の記録が見つからなかった場合は1、使い方の誤りは2です。
`,
    bundle: `使い方: duo-diag-proxy bundle [--since 24h] [--out FILE] [--admin URL | --db FILE] [flags]

GitLabサポートに渡すサポートバンドルを作成します。gzip圧縮したtarに次のファイルを含みます:
exchanges.har(フィルタリング済みのHAR 1.2)、exchanges.ndjson、summary.jsonとsummary.txt、
metrics.txt(/metricsのスナップショット。--dbの場合は含みません)、config.json(有効な設定。
シークレットはマスク済み)、doctor.json(--gateway/--modelを指定した場合)、version.json、
各ファイルの説明を記載したREADME.txt。すべてのファイルは先にトークン形式の文字列を検査します
(duo-diag-proxy audit)。何か見つかった場合は何も書き込まず、ファイルと記録を示して
終了コード1で終了します。

  --out FILE             アーカイブ [duo-diag-bundle-<time>.tar.gz]
  --since 24h|ISO        この時点以降のやり取り [24h]
  --until 15m|ISO        この時点まで
  --route NAME           1つのルートのみ
  --config FILE          プロキシの設定ファイル(省略時はDUO_DIAG_CONFIG)。DUO_DIAG_*も適用されます
  --gateway URL          AIゲートウェイに対してdoctorを実行します。例: http://aigw:5052
  --model URL            モデルエンドポイントに対してdoctorを実行します。例: http://vllm:8000/v1
  --model-name NAME      GitLabで設定したモデル識別子(doctor)
  --ca-file FILE         doctorのTLSチェックで信頼する追加のCAバンドル(PEM)
  --json                 JSONで出力

データの取得元:
  --admin URL|HOST:PORT  実行中のプロキシの管理API [http://127.0.0.1:5099]
  --admin-token TOKEN    管理APIのトークン(またはDUO_DIAG_ADMIN_TOKEN / DUO_DIAG_ADMIN__TOKEN)
  --db FILE|URL          ストアを直接読み取ります(停止したプロキシのSQLiteファイル、または
                         postgres://...)
`,
    demo: `使い方: duo-diag-proxy demo [flags]

GitLabインスタンスなしで、プロキシの動作を1分以内に確認できます。127.0.0.1上で次を起動します:
シミュレートしたvLLMのモデルサーバー、シミュレートしたAIゲートウェイ(2025年の系列、GitLabの
JWT認証が有効)、自己署名証明書を使う2つ目のAIゲートウェイ、それらの前に置いたプロキシ(ルート
{{gateway}}、{{model}}、{{tls}}、および何も待ち受けていないポートへの{{down}})。
続いて、GitLabと同じ形のトラフィックを両方のホップに送信します: 正常なコード補完とチャットの
ストリーミング、期限切れのトークン(401)、/v1がないモデルエンドポイントと不明なモデル
(AIゲートウェイがそのまま返す500とモデルの404)、Duo Chatでタイムアウトするモデル(すべての
再試行の後にエラー行)、応答しないAIゲートウェイ、自己署名証明書のAIゲートウェイ、停止している
AIゲートウェイ、IDEがキャンセルするチャットのストリーミング。管理APIからサマリーと失敗の表を
表示し、Ctrl-Cまですべてを起動したままにします。

  --admin HOST:PORT|URL     管理API(照会API)のアドレス(またはhttp://HOST:PORT) [127.0.0.1:5099]
  --listen HOST:PORT        ルート{{gateway}}(GitLab -> プロキシ -> AIゲートウェイ) [127.0.0.1:0]
  --model-listen HOST:PORT  ルート{{model}}(AIゲートウェイ -> プロキシ -> モデル) [127.0.0.1:0]
  --db PATH                 保持するSQLiteストアファイル [一時ファイル。終了時に削除]
  --once                    表示後に終了します。CIとテスト用(台本どおりの失敗がそのフラグ付きで
                            記録されなかった場合は終了コード1)
`
  },
  columns: {
    time: '時刻',
    route: 'ルート',
    correlationId: '相関ID',
    status: 'ステータス',
    method: 'メソッド',
    path: 'パス',
    durationMs: '所要時間(ミリ秒)',
    ttfbMs: 'TTFB(ミリ秒)',
    flags: 'フラグ',
    cause: '原因',
    request: 'リクエスト',
    feature: '機能',
    flag: 'フラグ',
    count: '件数',
    ttfbP50Ms: 'TTFB p50(ミリ秒)',
    durationP50Ms: '所要時間p50(ミリ秒)',
    p95Ms: 'p95(ミリ秒)',
    p99Ms: 'p99(ミリ秒)',
    source: 'ソース',
    file: 'ファイル',
    record: '記録',
    kind: '種類',
    startsWith: '先頭'
  },
  admin: {
    notHttp: '{{flag}}: 「{{value}}」はhttp(s)のURLではありません',
    notAddress: '{{flag}}: 「{{value}}」はURLでもHOST:PORTでもありません(例: http://127.0.0.1:5099または127.0.0.1:5099)'
  },
  client: {
    unreachable: '{{base}}の管理APIに接続できません({{error}})。プロキシは実行中ですか? 停止したプロキシのストアを読み取るには--db FILEを使用します',
    unreachableBare: '{{base}}の管理APIに接続できません({{error}})',
    answered: '管理APIの応答ステータスは{{status}}です: {{message}}',
    tailNeedsAdmin: 'tailには実行中のプロキシ(--admin URL)が必要です。--dbでは使用できません'
  },
  filter: {
    unknownFlag: '--flag: 不明なフラグ「{{flag}}」です{{hint}}(READMEのフラグ一覧を参照してください)',
    invalidQuery: '無効なクエリです: {{message}}'
  },
  failures: {
    badLimit: '--limit: 1から1000までの整数を指定してください',
    none: '失敗はありません。',
    noneSince: '失敗はありません(--since {{since}})。',
    noneQuery: 'クエリに一致する失敗はありません。',
    noneSinceQuery: 'クエリに一致する失敗はありません(--since {{since}})。',
    notShown: '({{width}}桁のため省略した列: {{columns}}。--jsonですべてのフィールドを表示できます)'
  },
  show: {
    oneKey: 'showにはやり取りIDまたは相関IDを1つだけ指定してください',
    notFound: 'やり取りIDまたは相関ID「{{key}}」は見つかりません'
  },
  trace: {
    correlationId: '相関ID {{id}}',
    rootCause: '根本原因: {{cause}}(やり取り{{id}}、ルート{{route}})',
    attempt: '{{n}}回目: ',
    noResponse: '応答なし',
    timing: 'TTFB {{ttfb}}ミリ秒、合計{{total}}ミリ秒',
    timingNoTtfb: 'TTFBなし、合計{{total}}ミリ秒',
    linked: '  (紐付け: {{method}}、信頼度{{confidence}})',
    flags: 'フラグ: {{flags}}',
    cause: '原因: {{cause}}',
    causeCode: '原因 [{{code}}]: {{cause}}',
    evidence: '根拠: {{text}}',
    next: '次の手順: {{text}}',
    waterfall: 'ウォーターフォール(最初のイベントからのミリ秒):',
    fromLogs: '  (ログから再構成)',
    logsOnly: 'プロキシを通ったやり取りはありません: インポートしたログ行だけです',
    timeline: 'タイムライン(UTC、{{date}}): GitLabとAIゲートウェイのログ行、プロキシのやり取り',
    severalDays: '複数日',
    timelineTruncated: '  (最初の{{count}}件のログ行: すべての行はGET /api/log-events?correlation_id=で取得できます)',
    columns: {
      time: '時刻',
      source: '出力元',
      level: 'レベル',
      message: 'メッセージ'
    },
    source: {
      gitlab_llm: 'GitLab llm.log',
      gitlab_request: 'GitLab Rails',
      gateway: 'AIゲートウェイ',
      gateway_text: 'AIゲートウェイ',
      proxy: 'プロキシ',
      reconstructed: 'ログから再構成'
    },
    event: {
      gitlab_sent: 'GitLabが送信',
      gateway_request_received: 'AIゲートウェイへのリクエストを受信',
      gateway_first_byte: 'AIゲートウェイから最初のバイト',
      gateway_failed: 'AIゲートウェイへのリクエストが失敗',
      gateway_done: 'AIゲートウェイへのリクエストが完了',
      model_request_received: 'モデルへのリクエストを受信',
      model_first_byte: 'モデルから最初のバイト',
      model_failed: 'モデルへのリクエストが失敗',
      model_done: 'モデルへのリクエストが完了'
    }
  },
  tail: {
    noRoute: '--route: このプロキシにルート「{{route}}」はありません{{hint}}(ルート: {{routes}})',
    started: 'リクエストをライブで表示しています(Ctrl-Cで停止)',
    dropped_other: '(この端末の表示が遅れたため、プロキシは{{count}}件のリクエストを省略しました)'
  },
  summary: {
    head: '{{since}}以降: リクエスト{{total}}件、{{failed}}',
    headAll: '全期間: リクエスト{{total}}件、{{failed}}',
    failed: '失敗{{errors}}件({{rate}}%)'
  },
  export: {
    badFormat: '--format: harまたはndjsonを指定してください(「{{format}}」は使用できません){{hint}}',
    progress: '{{format}}をエクスポートしています: {{size}}',
    wrote_other: '{{count}}件のやり取りを{{format}}({{size}})で{{dest}}に書き込みました',
    stdout: '標準出力'
  },
  purge: {
    needFilter: 'フィルターを1つ以上、または--allを指定してください',
    removed: '{{removed}}件のやり取りを削除しました'
  },
  doctor: {
    needTarget: 'doctorには--gateway URLまたは--model URL(あるいは両方)が必要です',
    badTimeout: '--timeout-ms: 100から120000までの整数を指定してください',
    and: 'と',
    checking: '{{targets}}を確認しています',
    checkingDone: '{{targets}}を確認しています: {{done}}件完了',
    someFailed: '失敗したチェックがあります。',
    allPassed: 'すべてのチェックに合格しました。'
  },
  start: {
    adminNotAddress: '--admin: 「{{value}}」はHOST:PORTでもURLでもありません',
    adminNotHttp: '--admin: 「{{value}}」: 管理APIはプレーンなhttpで提供します。HOST:PORTまたはhttp://HOST:PORTを指定してください',
    adminPath: '--admin: 「{{value}}」: 待ち受けアドレスはホストとポートだけで、パスは含みません',
    firstStart: '(初回の起動: 作成します)',
    starting_other: '起動しています: ルート{{count}}個、ストア{{store}}',
    listening: 'ルート{{route}}: {{address}}で待ち受け、{{upstream}}に転送',
    admin: '管理API: http://{{address}}(duo-diag-proxy failures、tail、summaryが読み取ります)',
    ready: '準備ができました。Ctrl-Cで停止します',
    warning: '警告',
    upstreamProblem: 'ルート{{route}} -> {{upstream}}: {{problem}}'
  },
  upstream: {
    refusedGateway: '{{address}}で待ち受けているものがありません。AIゲートウェイは実行中ですか?',
    refusedModel: '{{address}}で待ち受けているものがありません。モデルサーバーは実行中ですか?',
    notResolved: 'ホスト名{{host}}を名前解決できません',
    noAnswer: '{{address}}から応答がありません(ファイアウォールを確認してください)',
    unreachable: '{{address}}に接続できません({{code}})'
  },
  audit: {
    cannotRead: '読み取れません: {{message}}',
    clean: 'audit: {{scanned}}個のファイルを検査しました。トークン形式の文字列は見つかりませんでした',
    found: 'audit: {{scanned}}個のファイルで{{findings}}件見つかりました'
  },
  bundle: {
    adminOrDb: '--admin URLと--db FILEはどちらか一方だけを指定してください',
    collecting: '{{from}}からやり取り、サマリー、設定を収集しています',
    collectingMetrics: '{{from}}からやり取り、サマリー、メトリクス、設定を収集しています',
    collectingDoctor: '{{from}}からやり取り、サマリー、設定を収集し、doctorのチェックを実行しています',
    collectingMetricsDoctor: '{{from}}からやり取り、サマリー、メトリクス、設定を収集し、doctorのチェックを実行しています',
    auditing: '{{files}}個のファイルでトークン形式の文字列を検査しています',
    refused: '中止',
    refusedWhy: 'シークレットの検査でトークン形式の文字列が{{findings}}件見つかりました。何も書き込んでいません',
    refusedNext: 'これらの記録を削除または修正してから(duo-diag-proxy purge、または--since/--routeで範囲を狭める)、もう一度バンドルを作成してください。',
    writing: '{{file}}を書き込んでいます',
    wrote_other: '{{file}}を書き込みました(やり取り{{count}}件、ファイル{{files}}個、{{size}}。{{folder}}/に展開されます)',
    report: 'bundle: {{since}}以降のやり取り{{exchanges}}件、取得元{{from}}',
    reportRoute: 'bundle: {{since}}以降のルート{{route}}のやり取り{{exchanges}}件、取得元{{from}}',
    omitted: '含めていません: {{why}}',
    audited: 'audit: {{files}}個のファイルを検査しました。トークン形式の文字列は見つかりませんでした',
    omit: {
      metricsFromDb: 'ストアファイル(--db)から作成しました。メトリクスは実行中のプロキシにあります(管理APIのGET /metrics)',
      metricsStatus: 'GET {{url}}/metricsの応答ステータスは{{status}}でした',
      metricsFailed: 'GET {{url}}/metricsが失敗しました: {{error}}'
    }
  },
  replay: {
    oneId: 'replayにはやり取りIDを1つだけ指定してください(または--correlation-idか--har)',
    exactlyOne: 'やり取りID、--correlation-id ID、--har FILEのいずれか1つだけを指定してください',
    needTarget: '--target URLが必要です(ステージングのAIゲートウェイまたはモデルサーバー)',
    dbOrHar: '--dbと--harはどちらも元の記録の取得元です。どちらか一方だけを指定してください',
    badHeader: '--header「{{value}}」: 「Name: value」の形式で指定してください',
    badTimeout: '--timeout-ms: 100から3600000までの整数を指定してください',
    notUrl: '{{flag}}: 「{{value}}」はURLではありません',
    noExchangeId: 'ID「{{id}}」のやり取りはありません',
    noExchangeHar: '{{file}}にやり取りはありません',
    noExchangeCorrelation: '相関ID「{{id}}」のやり取りはありません',
    notAnswered: '{{total}}件中{{unreached}}件に応答がありません: {{target}}に接続できませんでした({{code}})',
    har: {
      notJson: '--har {{file}}: JSONとして読み取れません({{error}})',
      notHar: '--har {{file}}: HARファイルではありません(log.entriesがありません)',
      noUrl: 'HARのエントリー{{n}}: request.urlがありません',
      badUrl: 'HARのエントリー{{n}}: request.url「{{url}}」はURLではありません'
    },
    detail: {
      noBody: 'ボディなし',
      captured: 'キャプチャしたボディ(詳細キャプチャ)'
    },
    why: {
      notCaptured: 'ボディはキャプチャされていません(詳細キャプチャが無効)',
      truncated: 'キャプチャしたボディはキャプチャの上限で切り詰められています',
      binary: 'バイナリのボディはサイズのみを記録しています'
    },
    shape: {
      recorded: '元のリクエストの記録された形(フィールド{{fields}}個)',
      recordedCut: '元のリクエストの記録された形(フィールド{{fields}}個。深い部分はキャプチャ時に省略)',
      codeCompletion: 'コード補完(current_file)',
      codeGeneration: 'コード生成(current_file)',
      promptComponents: '{{type}}(prompt_components)',
      chatMessages: 'チャット(messages)',
      chatPromptComponents: 'チャット(prompt_components)',
      promptInputs: 'プロンプト(inputs)',
      openaiChat: 'OpenAIのチャット(messages)',
      openaiCompletion: 'OpenAIの補完(prompt)',
      openaiEmbeddings: 'OpenAIの埋め込み(input)',
      unknownJson: '不明なエンドポイント: JSONのプレースホルダー',
      unknownText: '不明なエンドポイント: テキストのプレースホルダー'
    },
    note: {
      endpointReplaced: 'モデルエンドポイントを{{url}}に置き換えました(--model-endpoint)',
      filteredBody: 'キャプチャ時にフィルタリングされた値(model_api_keyなど、シークレットを示す名前のキー)は"[FILTERED]"として送信します',
      synthesized: 'ボディを合成しました: {{why}}',
      filteredQuery: 'キャプチャ時にフィルタリングされたクエリとパスの値は"[FILTERED]"として送信します',
      droppedCredentials: 'キャプチャ時にフィルタリングされた資格情報は送信していません: {{headers}}(ステージング用の資格情報は--header \'Name: value\'で指定します)',
      delayed: 'ステージングのプロキシが、このリプレイを元の最初のバイトまでの時間だけ遅らせました({{ms}}ミリ秒、フォールトルール{{rule}})',
      faultsOff: 'ステージングのプロキシでフォールトインジェクションが無効です(faults.enabled)。元の最初のバイトまでの時間は再現していません',
      faultRefused: 'ステージングのプロキシがタイミングのルールを拒否しました({{status}}: {{text}})',
      faultUnreachable: '{{base}}にタイミングのルールを設定できません({{error}})',
      recordsNotRead: '--adminからリプレイの記録を読み取れませんでした: {{error}}',
      notRecorded: '記録していません: --targetの前のプロキシが記録しなかったリプレイは、--admin(元の記録をストアに持つプロキシ)が記録します。フラグは応答から導出しました',
      notRecordedAt: '--adminで記録できませんでした({{error}})。フラグは応答から導出しました'
    },
    cause: {
      notAnswered: '応答なし: {{error}}',
      cutOff: 'ヘッダーの後に切断されました: {{code}}',
      answered: '応答: {{answer}}',
      streamError: 'ストリーミングのエラー: {{error}}',
      faultInjected: 'フォールトインジェクション: {{fault}}',
      both: '{{first}}。{{second}}'
    },
    render: {
      ms: '{{ms}}ミリ秒',
      offset: '+{{ms}}ミリ秒',
      notRecorded: '記録なし',
      chunks: '{{chunks}}(最長の間隔{{gap}})',
      bytes: '{{bytes}}バイト',
      bytesChunks_other: '{{bytes}}バイト、{{count}}チャンク',
      label: {
        original: '元の記録',
        replay: 'リプレイ',
        body: 'ボディ',
        error: 'エラー'
      },
      row: {
        start: '開始',
        status: 'ステータス',
        flags: 'フラグ',
        cause: '原因',
        ttfb: 'TTFB',
        receive: '受信',
        chunks: 'チャンク',
        duration: '所要時間',
        response: '応答'
      },
      column: {
        original: '元のリクエスト',
        replay: 'リプレイ'
      },
      sourceProxy: '(プロキシの記録)',
      sourceReport: '(元の記録のストアの記録)',
      recordedReport: '(どのプロキシも記録していないため、元の記録のストアに{{id}}として記録しました)',
      recordedProxy: '(そのプロキシが{{id}}として記録しました。ルート{{route}})',
      bodyNone: 'なし',
      body: '{{mode}}: {{detail}}、{{bytes}}バイト(元: {{original}}バイト)',
      mode: {
        exact: 'そのまま',
        synthesized: '合成'
      },
      originalLine: '{{id}}  相関ID: {{correlation}}  ルート: {{route}}  {{time}}',
      note: '注: {{text}}',
      summary: '{{total}}件を{{target}}にリプレイしました: 応答あり{{answered}}件、応答なし{{unreached}}件。',
      timing: 'タイミング: 各リプレイは、元のリクエストと同じ時間差で開始しました。最初のバイトまでの時間は、--adminがフォールトインジェクションを有効にしたステージングのプロキシを指す場合に、そのフォールトインジェクションで再現します。チャンクの間隔は記録されていません(記録はTTFBと所要時間のみ)。',
      records: 'X-Request-IDごとの記録(ターゲットの前のプロキシ、なければ元の記録のストア): duo-diag-proxy show {{id}}{{more}}'
    }
  },
  demo: {
    adminOff: '--admin: デモは管理APIから結果を読み取るため、offにはできません',
    pickAnother: '。別のアドレスを指定してください(例: --admin 127.0.0.1:0)',
    title: 'duo-diag-proxy demo: シミュレートしたGitLab Duoのトラフィックを、両方のホップでプロキシ経由で送信します',
    modelServer: 'モデルサーバー(vLLM相当)',
    gateway: 'AIゲートウェイ(JWT認証)',
    tlsGateway: 'AIゲートウェイ(自己署名証明書)',
    proxy: 'プロキシ',
    admin: '管理API',
    toGateway: '{{url}} -> AIゲートウェイ(ヘッダータイムアウト{{seconds}}秒)',
    toModel: '{{url}} -> モデルサーバー(GitLabのモデルエンドポイント: {{url}}/v1)',
    toTlsGateway: '{{url}} -> 自己署名証明書のAIゲートウェイ',
    traffic: 'トラフィック(クライアントから見た結果):',
    staysUp: 'Ctrl-Cまですべて起動したままにします。',
    stopping: '停止しています...',
    scenario: {
      codeCompletion: 'コード補完',
      codeCompletionStreamed: 'コード補完(ストリーミング)',
      chatStream: 'Duo Chatのストリーミング',
      expiredToken: '期限切れのGitLabトークン(401)',
      missingV1: '/v1がないモデルエンドポイント',
      unknownModel: '不明なモデル(識別子の入力ミス)',
      modelTimeout: 'モデルのタイムアウト(Duo Chat)',
      gatewayHangs: 'AIゲートウェイが応答しない',
      gatewayDown: 'AIゲートウェイが停止(接続拒否)',
      selfSigned: 'AIゲートウェイの自己署名証明書',
      chatCancelled: 'IDEがチャットをキャンセル'
    },
    result: {
      fromProxy: '{{status}}(プロキシが応答: {{flag}})',
      chat: '{{status}}: {{chat}}',
      dropped: '{{status}}、切断',
      chatError: 'エラー「{{error}}」',
      noLines: '行なし',
      thenDropped: '{{lines}}、その後切断',
      hungUp_other: '{{status}}、{{count}}チャンク後に切断',
      notAborted: '{{status}}、中断されず(先にストリーミングが終了)',
      clientError: 'クライアントのエラー: {{message}}'
    },
    summary: 'サマリー: {{total}}件のやり取りを記録しました(AIゲートウェイのホップ{{gateway}}件、モデルのホップ{{model}}件)。正常{{clean}}件、フラグ付き{{flagged}}件。',
    column: {
      flag: 'フラグ',
      exchanges: 'やり取り',
      timeUtc: '時刻(UTC)',
      route: 'ルート',
      correlationId: '相関ID',
      status: 'ステータス',
      flags: 'フラグ',
      cause: '原因',
      scenario: 'シナリオ'
    },
    failures: '失敗:',
    proxyAnswered: 'プロキシ',
    checkOk: 'OK',
    checkMissing: '未記録',
    allRecorded: '台本どおりの失敗はすべて、そのフラグ付きで記録されました(チェック{{checks}}件)。',
    notRecorded: '台本どおりの失敗{{total}}件のうち{{missing}}件が、そのフラグ付きで記録されていません。',
    openView: 'ブラウザビューを開きます: {{url}}',
    explore: '詳しく調べるには(jqは任意):',
    exploreOnce: '詳しく調べるには(--onceのため、すべてここで停止します。試すには--onceなしでデモを実行してください):',
    commentMissingV1: '/v1がないリクエストを両方のホップで表示',
    commentModelTimeout: 'モデルがタイムアウトしたチャット: すべての再試行',
    sendYourOwn: '自分でも送信できます(x-sim-fault: hang、reset-mid-stream、truncate、status:CODE、delay-headers:MSなど):',
    proxyLog: 'プロキシのログ: {{file}}',
    proxyLogRemoved: 'プロキシのログ: {{file}}(終了時に削除)'
  },
  logs: {
    help: `使い方: duo-diag-proxy logs import [--db FILE|URL] [--config FILE] [--follow] <file>... | -

手元にあるログを読み込み、記録したトラフィックと同じように診断します。対象はGitLabのllm.log
(Gitlab::Llm::Logger)、production_json.logとapi_json.logの行、AIゲートウェイのログ(JSON行、
タイムスタンプ付きまたはなしのdocker logs / kubectl logsの出力、プレーンテキストの行とトレースバック、
litellmのメッセージ)です。ファイルは名前ではなく内容で判別し、gzipは展開します。各行は記録した
トラフィックと同じようにフィルタリングされ(プロンプトを含むフィールドはcapture.bodiesが有効なときだけ)、
同じ相関IDのやり取りの隣に保存され、その相関IDを診断し直します。プロキシが記録したやり取りには
ログの根拠が加わり、プロキシが見ていないやり取りはログから再構成され、その旨が示されます。
同じ行をもう一度取り込んでも何も増えません。その後、duo-diag-proxy show <相関ID>でログの行と
やり取りを1つのタイムラインで確認できます。

  --db FILE|URL   ストア [設定のstore.path、./data/exchanges.db]
  --config FILE   プロキシの設定ファイル(指定しなければDUO_DIAG_CONFIG): ストア、capture.bodies、
                  フィルタリングのルール。DUO_DIAG_*も適用されます
  -f, --follow    1つのファイルを追記に合わせて読み続けます(tail -fと同様。ローテーション後も)。
                  標準入力も可(docker logs -f aigw | duo-diag-proxy logs import --follow -)。
                  1秒ごとに届いた分を保存して診断します。Ctrl-Cで停止
  --json          取り込みの件数と失敗した相関IDをJSONで出力
`,
    unknownSubcommand: 'logsのサブコマンド「{{name}}」はありません: logs import <file>...を使ってください',
    noFiles: 'logs importにはファイルを1つ以上(標準入力なら-)指定してください',
    followOne: '--followで読めるのは1つのファイル(または標準入力の-)だけです',
    stdinOnce: '-(標準入力)は1回だけ指定できます',
    notFile: '{{file}}: ファイルではありません',
    cannotRead: '{{file}}: 読み取れません({{error}})',
    importing_other: '{{files}}個のファイルを取り込んでいます',
    following: '{{file}}を読み続けています(Ctrl-Cで停止)',
    read: '{{lines}}行を読みました: ログイベント{{events}}件、新規{{fresh}}件、取り込み済み{{duplicates}}件',
    notKept: '保存しなかった行: 判別できない行{{unknown}}、長すぎる行{{tooLong}}、ヘルスチェック{{skipped}}',
    diagnosed: '相関ID {{traces}}件を診断しました: ログから再構成したやり取り{{reconstructed}}件、更新した記録済みのやり取り{{updated}}件',
    fromLogs: '(ログから)',
    olderThanRetention: '注意: {{oldest}}以降の行はstore.retention.max_age_hours({{hours}}時間)より古いため、このストアを使って動作中のプロキシが次の保持期間の処理で、それらの行とそこから再構成したやり取りを削除します。古いログは専用のストア(--db FILE)に取り込むか、max_age_hoursを大きくしてください。',
    next: '次に: {{command}}',
    source: {
      gitlab_llm: 'llm.log',
      gitlab_request: 'GitLabのリクエストログ',
      gateway: 'AIゲートウェイ(JSON)',
      gateway_text: 'AIゲートウェイ(テキスト)'
    }
  }
}
