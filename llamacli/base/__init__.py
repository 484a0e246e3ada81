"""The ground floor every layer stands on: where files live (`paths`), what the user set (`settings`),
this machine (`hardware`), byte sizes (`sizes`) and facts remembered about files (`file_facts`).

It imports nothing of llamacli but `errors`.
"""
