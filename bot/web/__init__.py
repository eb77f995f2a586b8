"""The read-only web side: the seed's dashboard and a JSON API (Starlette, uvicorn, Jinja2).

An adapter like the chats: it reads through the command layer's read side
(``bot.app.queries.Queries``), so the page and the API show the same numbers as ``/top``
and ``/score``; it writes nothing. The web stack is imported only by the processes that
serve it (``dps web``, the dashboard's process of ``dps run`` with ``WEB_PORT``, the demo):
it costs memory the bot need not carry (``bot.web.listen`` alone loads none of it).
"""
