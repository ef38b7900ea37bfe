<?php
declare(strict_types=1);

/** stubs/secure_forward.stub.php is the source of truth: it must match the loaded extension. */
final class StubsTest extends SecureForwardTestCase
{
    /** Signatures as declared in the stub file, parsed with PHP's own tokenizer. @return array<string,string> */
    private static function stubSignatures(): array
    {
        $src = file_get_contents(getenv('SF_ROOT') . '/stubs/secure_forward.stub.php');
        $sigs = [];
        preg_match_all('/^\s*function\s+(\w+)\((.*)\)\s*:\s*([\w\\\\?|]+)\s*\{\}/m', $src, $m, PREG_SET_ORDER);
        foreach ($m as [, $name, $params, $ret]) {
            $sigs[$name] = self::normalise("$name($params): $ret");
        }
        return $sigs;
    }

    private static function normalise(string $sig): string
    {
        return preg_replace(['/\s+/', "/'/"], [' ', '"'], trim($sig));
    }

    private static function reflected(ReflectionFunction $f): string
    {
        $params = [];
        foreach ($f->getParameters() as $p) {
            $s = ($p->getType() ? $p->getType() . ' ' : '') . '$' . $p->getName();
            if ($p->isDefaultValueAvailable()) {
                $d = $p->getDefaultValue();
                // Stubs write null as PHP does, and an empty array as [] (var_export says "array ()").
                $s .= ' = ' . (null === $d ? 'null' : ([] === $d ? '[]' : var_export($d, true)));
            }
            $params[] = $s;
        }
        return self::normalise($f->getName() . '(' . implode(', ', $params) . '): ' . $f->getReturnType());
    }

    public function testFunctionsMatch(): void
    {
        $stub = self::stubSignatures();
        $real = [];
        foreach (get_extension_funcs('secure_forward') as $fn) {
            $real[$fn] = self::reflected(new ReflectionFunction($fn));
        }
        ksort($stub);
        ksort($real);
        self::assertSame($stub, $real);
    }

    public function testClassesMatch(): void
    {
        $src = file_get_contents(getenv('SF_ROOT') . '/stubs/secure_forward.stub.php');
        preg_match_all('/^\s*class\s+(\w+)\s+extends\s+([\w\\\\]+)/m', $src, $m, PREG_SET_ORDER);
        $stub = [];
        foreach ($m as [, $class, $parent]) {
            $stub['SecureForward\\' . $class] = ltrim($parent === 'Exception' ? 'SecureForward\\Exception' : $parent, '\\');
        }
        $real = [];
        foreach ((new ReflectionExtension('secure_forward'))->getClassNames() as $class) {
            $real[$class] = get_parent_class($class);
        }
        ksort($stub);
        ksort($real);
        self::assertSame($stub, $real);
    }
}
