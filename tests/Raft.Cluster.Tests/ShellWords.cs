using System.Text;

namespace Raft.Cluster.Tests;

/// <summary>
/// Splits a command line the way a POSIX shell splits the simple commands that README and the launcher print: words
/// separated by blanks, '...' and "..." quoting (no expansion inside), and a # that starts a word begins a comment.
/// </summary>
internal static class ShellWords
{
    public static List<string> Split(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c is ' ' or '\t')
            {
                if (inWord)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }

                continue;
            }

            if (c == '#' && !inWord)
            {
                break;
            }

            inWord = true;
            if (c is '\'' or '"')
            {
                var end = line.IndexOf(c, i + 1);
                if (end < 0)
                {
                    throw new FormatException($"unterminated {c} in: {line}");
                }

                word.Append(line, i + 1, end - i - 1);
                i = end;
            }
            else
            {
                word.Append(c);
            }
        }

        if (inWord)
        {
            words.Add(word.ToString());
        }

        return words;
    }
}
