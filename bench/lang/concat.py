s = ""
i = 0
while i < 10000:
    s = s + "x"
    i += 1
print(len(s))
