async def test_start_in_chinese(bot):
    u = bot.user(1)
    await bot.text(u, "/start")
    print(bot.request.texts(1))
    assert "劳模创新工作室" in bot.request.texts(1)[-1]
